"""``lua_vs_native`` (issue 12): the unchanged Lua 5.4 interpreter computing ``fib(27)``, under ``twzemu run`` (built
with ``twzemu cc -O2``, ``guests/build/lua/lua``) against the same ``onelua.c`` built natively for the host with
gcc ``-O2`` (``guests/build/lua/lua-native``), each as a whole process: native seconds / twzemu seconds (higher
is better; start-up included on both sides). Absent when ``make`` could not fetch Lua."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .processes import time_command, twzemu_command

LUA = Path(__file__).resolve().parent.parent / "guests" / "build" / "lua"
FIB = "local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end print(fib(27))"


def measurements() -> dict[str, Callable[[], float]]:
    if not (LUA / "lua").exists() or not (LUA / "lua-native").exists():
        return {}
    guest = [*twzemu_command(), "run", str(LUA / "lua"), "-e", FIB]
    native = [str(LUA / "lua-native"), "-e", FIB]
    return {"lua_twzemu": lambda: time_command(guest), "lua_native": lambda: time_command(native)}


def figures(best: dict[str, float]) -> list[tuple[str, float, str]]:
    if "lua_twzemu" not in best:
        return []
    return [("lua_vs_native", best["lua_native"] / best["lua_twzemu"], "x")]
