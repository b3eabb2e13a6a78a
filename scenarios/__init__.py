"""Ready-to-run scenarios, installed as the package ``twin.scenarios`` so that ``python -m twin.run NAME`` finds them."""
