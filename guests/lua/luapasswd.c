/* Lua beside an isolated compartment: the unchanged Lua 5.4 interpreter (onelua.c built with MAKE_LIB) runs a
 * script in the program's compartment, next to the isolated password service (libpasswd.so, RFC 0008's example).
 * The script reaches the service only through its gates, given to Lua as the table `passwd`; `passwd.peek` reads
 * any address from the program's compartment, so a script that tries the database's address directly is stopped
 * by the page tables. Usage: luapasswd [SCRIPT.lua] (the demo's script when none). */
#include <stdio.h>
#include <string.h>
#include <twz.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

long passwd_check(long user);
long passwd_set(long user);
long passwd_database(void);

static void send(lua_State *L, int index)
{
    size_t length;
    const char *password = luaL_checklstring(L, index, &length);
    luaL_argcheck(L, length < TWZ_GATE_BUFFER_SIZE, index, "longer than the gate buffer");
    memcpy(twz_gate_buffer(), password, length + 1);
}

static int set(lua_State *L)
{
    lua_Integer user = luaL_checkinteger(L, 1);
    send(L, 2);
    lua_pushinteger(L, passwd_set(user));
    return 1;
}

static int check(lua_State *L)
{
    lua_Integer user = luaL_checkinteger(L, 1);
    send(L, 2);
    lua_pushboolean(L, passwd_check(user) == 1);
    return 1;
}

static int database(lua_State *L)
{
    lua_pushinteger(L, passwd_database());
    return 1;
}

static int peek(lua_State *L)
{
    lua_pushinteger(L, *(volatile long *)(long)luaL_checkinteger(L, 1));
    return 1;
}

static const luaL_Reg gates[] = {
    {"set", set}, {"check", check}, {"database", database}, {"peek", peek}, {0, 0},
};

static const char demo[] =
    "local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end\n"
    "print(('%s computes fib(20) = %d in the program\\'s compartment'):format(_VERSION, fib(20)))\n"
    "passwd.set(1, 'correct horse')\n"
    "for _, guess in ipairs({'123456', 'letmein', 'correct horse'}) do\n"
    "  print(('  passwd.check(1, %q) -> %s (a crossing into libpasswd.so)'):format(guess, passwd.check(1, guess)))\n"
    "end\n"
    "local at = passwd.database()\n"
    "print(('the service says its database is at 0x%x; Lua reads it directly:'):format(at))\n"
    "print(passwd.peek(at))\n";

int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_newlib(L, gates);
    lua_setglobal(L, "passwd");
    int failed = argc > 1 ? luaL_dofile(L, argv[1]) : luaL_dostring(L, demo);
    if (failed) {
        fprintf(stderr, "luapasswd: %s\n", lua_tostring(L, -1));
        return 1;
    }
    lua_close(L);
    return 0;
}
