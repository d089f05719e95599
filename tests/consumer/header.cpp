// header.cpp - include/taclust.h compiled as C++ (tests/consumer/run.sh: g++ -fsyntax-only): the public headers
// must be valid C++ with C linkage for every declaration.
#include <taclust.h>

int main()
{
    const char *(*f)(void) = tac_version;
    return f() == nullptr;
}
