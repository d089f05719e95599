#!/usr/bin/env python3
"""api_annotate.py - puts TAC_API in front of every public declaration in include/taclust/*.h that lacks it.

A declaration is a line at column 0 that starts a function prototype (a return type, then tac_name( ) or an
`extern` object; typedefs, enums, structs and preprocessor lines are left alone. Idempotent: run it after adding
declarations (`python3 tools/api_annotate.py`); `--check` lists unannotated ones and exits 1 if there are any.
"""
import re
import sys
import glob
import os

DECL = re.compile(r'^(?!TAC_API\b)(?!typedef\b)(?!#)(?:extern\s+)?(?:const\s+|unsigned\s+|struct\s+)*'
                  r'[A-Za-z_][A-Za-z0-9_]*[\s\*]+(?:const\s*\*?\s*)*\**tac_[A-Za-z0-9_]*\s*[\(\[;]')


def main():
    check = '--check' in sys.argv
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'include', 'taclust')
    missing = 0
    for path in sorted(glob.glob(os.path.join(root, '*.h'))):
        with open(path) as f:
            lines = f.read().split('\n')
        out = []
        for i, line in enumerate(lines):
            if DECL.match(line):
                missing += 1
                if check:
                    print('%s:%d: no TAC_API: %s' % (os.path.relpath(path), i + 1, line.strip()))
                else:
                    line = 'TAC_API ' + line
            out.append(line)
        if not check:
            with open(path, 'w') as f:
                f.write('\n'.join(out))
    if check and missing:
        sys.exit(1)
    if not check:
        print('api_annotate: %d declarations annotated' % missing)


if __name__ == '__main__':
    main()
