"""``python -m twzemu.sdk``: build the guest runtime now unless built (``make`` does), print its directory."""

import sys

from ..errors import TwzEmuError
from . import runtime

try:
    print(runtime().directory)
except TwzEmuError as error:
    sys.exit(f"twzemu: {error}")
