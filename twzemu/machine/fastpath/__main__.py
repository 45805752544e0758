"""``python -m twzemu.machine.fastpath``: build the crossing engine now (``make`` does, so no run compiles it)."""

from . import build

print(f"twzemu: crossing engine {build()}")
