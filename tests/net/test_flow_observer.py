"""The engine reports every flow's start, arrival and cancellation to its observer, with the tag untouched."""

import simpy

from twin.net.engine import FlowNetwork
from twin.net.flow import LinkDirection


class Log:
    def __init__(self):
        self.events = []

    def flow_started(self, flow, t):
        self.events.append(("start", flow.name, flow.tag, t))

    def flow_ended(self, flow, t):
        self.events.append(("end", flow.name, flow.tag, t))

    def flow_cancelled(self, flow, t, bytes_done):
        self.events.append(("cancel", flow.name, flow.tag, t, bytes_done))


def test_observer_sees_start_end_and_cancel_with_the_same_tag_object():
    env = simpy.Environment()
    log = Log()
    net = FlowNetwork(env, observer=log)
    link = net.add_resource(LinkDirection("l", 8e6, 0.5))  # 1 MB/s, 0.5 s latency
    tag_a, tag_b = object(), ("any", "thing")
    a = net.start([link], 1e6, name="a", tag=tag_a)
    b = net.start([link], 4e6, name="b", tag=tag_b)

    def stop_b():
        yield env.timeout(3.0)  # both at 0.5 MB/s until a's last byte leaves at 2 s, then b alone at 1 MB/s
        net.cancel(b)

    env.process(stop_b())
    env.run()
    assert log.events[:2] == [("start", "a", tag_a, 0.0), ("start", "b", tag_b, 0.0)]
    assert log.events[2] == ("end", "a", tag_a, 2.5)
    kind, name, tag, t, done = log.events[3]
    assert (kind, name, tag, t) == ("cancel", "b", tag_b, 3.0) and done == 1e6 + 1e6
    assert a.tag is tag_a and b.user is None


def test_no_observer_records_nothing_and_still_moves_bytes():
    env = simpy.Environment()
    net = FlowNetwork(env)
    link = net.add_resource(LinkDirection("l", 8e6, 0.0))
    f = net.start([link], 1e6, tag="x")
    env.run()
    assert f.done.ok and f.tx_end_t == 1.0
