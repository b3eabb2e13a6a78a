"""An unknown key gets a 'did you mean' hint when a field of its section is spelt alike."""

import pytest

from twin.errors import InputError
from twin.scenario.loading import load_scenario


@pytest.mark.parametrize(("override", "hint"), [
    ("fl.round=3", "fl.round: unknown field (did you mean 'rounds'?)"),
    ("topology.n_client=3", "topology.n_client: unknown field (did you mean 'n_clients'?)"),
    ("fl.local.optimizer.lr_=0.1", "(did you mean 'lr'?)"),  # inside a discriminated union (the sgd optimizer)
])
def test_close_spelling_is_suggested(override, hint):
    with pytest.raises(InputError) as err:
        load_scenario("quickstart", [override])
    assert hint in str(err.value)


def test_no_hint_for_a_name_unlike_any_field():
    with pytest.raises(InputError) as err:
        load_scenario("quickstart", ["fl.zzz=1"])
    assert str(err.value).endswith("fl.zzz: unknown field")
