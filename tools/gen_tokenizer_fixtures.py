#!/usr/bin/python3
"""gen_tokenizer_fixtures.py - writes the Unicode/HTML tables of the C tokenizer and its test fixture.

    /usr/bin/python3 tools/gen_tokenizer_fixtures.py [--tables-only | --fixture-only]   (from the repo root)
(the tables take several minutes: every code point is matched against the regex classes one by one)

Writes:
  src/clip/tac_bpe_tables.c  - generated C tables, taken from THIS Python (str.lower, str.isspace,
                               html.entities.html5, html's numeric-reference rules) and the `regex` module
                               (\\p{L}, \\p{N}, [^\\s\\p{L}\\p{N}] and \\s as CLIP's pattern sees them with IGNORECASE).
                               Each code point is classified by actually matching it, so the C side copies the
                               behaviour of the very modules OpenAI's tokenizer runs on, quirks included
                               (U+0345 matches none of the classes and is skipped; U+001C..U+001F are stripped
                               by str.strip() but are not regex \\s).
  tests/fixtures/tokenizer/clip_tokenizer.txt - the oracle answers of tools/ref_clip_tokenizer.py:
      T i TEMPLATE            the 7 TAC templates (tac-method.md 3.2)
      S HEX n id...           hard / random strings (UTF-8 as hex) and their ids up to and including EOT
      W c first count HEX     FNV-1a 64 of the int32 little-endian ids (all 77 of each prompt, 7 prompts a
                              lemma, lemmas first..first+count-1) for chunk c of the WordNet noun lemmas
      A n HEX                 the same digest over all n lemmas
The lemmas are taken as-is (row 131919 "null" stays "null"; TAC's pandas reading embeds it as "nan",
tac-method.md 3.1). They are printable ASCII without '&', so ftfy.fix_text, which the reference and the C
tokenizer skip, would leave every TAC prompt unchanged.
"""
import html
import html.entities
import os
import random
import struct
import sys

import regex

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_clip_tokenizer as ref  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CHUNK = 1000

# ------------------------------------------------------------------------------------------------ tables
B_L, B_N, B_O, B_RS, B_PS, B_IGN, B_CASED = 1, 2, 4, 8, 16, 32, 64


def classify_all():
    L = regex.compile(r"[\p{L}]", regex.IGNORECASE)
    N = regex.compile(r"[\p{N}]", regex.IGNORECASE)
    O = regex.compile(r"[^\s\p{L}\p{N}]", regex.IGNORECASE)
    S = regex.compile(r"\s")
    bits = [0] * 0x110000
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            bits[cp] = B_O               # never reached: C decodes surrogates as U+FFFD
            continue
        c = chr(cp)
        b = 0
        if L.fullmatch(c): b |= B_L
        if N.fullmatch(c): b |= B_N
        if O.fullmatch(c): b |= B_O
        if S.fullmatch(c): b |= B_RS
        if c.isspace(): b |= B_PS
        # CPython's final-sigma rule only needs "case-ignorable" and "cased" (of non-ignorable characters);
        # both are read back from str.lower() itself.
        with_b = ("A\u03a3" + c + "B").lower()[1]
        alone = ("A\u03a3" + c).lower()[1]
        if with_b == "\u03c3" and alone == "\u03c2":
            b |= B_IGN
        elif alone == "\u03c3":
            b |= B_CASED
        bits[cp] = b
    return bits


def lower_runs():
    pairs, multi = [], []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        low = chr(cp).lower()
        if cp == 0x3A3:
            continue                     # capital sigma: context rule in C
        if len(low) == 1 and ord(low) != cp:
            pairs.append((cp, ord(low)))
        elif len(low) != 1:
            multi.append((cp, low))
    runs = []                            # (start, count, stride, delta)
    for cp, lo in pairs:
        d = lo - cp
        if runs:
            s, n, st, dd = runs[-1]
            last = s + (n - 1) * st
            if dd == d and n == 1 and cp - last in (1, 2):
                runs[-1] = (s, 2, cp - last, d)
                continue
            if dd == d and n > 1 and cp - last == st:
                runs[-1] = (s, n + 1, st, d)
                continue
        runs.append((cp, 1, 1, d))
    return runs, multi


def c_bytes(s):
    return '"' + "".join("\\%03o" % b for b in s.encode("utf-8")) + '"'


def write_tables(path):
    bits = classify_all()
    starts, vals = [], []
    for cp in range(0x110000):
        if cp == 0 or bits[cp] != bits[cp - 1]:
            starts.append(cp)
            vals.append(bits[cp])
    runs, multi = lower_runs()
    ents = sorted(html.entities.html5.items(), key=lambda kv: kv[0].encode())
    inv_refs = sorted(html._invalid_charrefs.items())
    inv_cps = sorted(html._invalid_codepoints)
    assert all(len(v) == 1 for _, v in inv_refs)
    extra_fold = {}
    for ch in "<|startoftext|>endoftext'srtevmlld":
        for cp in range(128, 0x110000):
            if not 0xD800 <= cp <= 0xDFFF and regex.fullmatch(regex.escape(ch), chr(cp), regex.IGNORECASE):
                extra_fold[ch] = cp
    assert extra_fold == {"s": 0x17F}, extra_fold      # C hard-codes: only 's' has a non-ASCII case twin
    out = []
    w = out.append
    w("/* tac_bpe_tables.c - GENERATED by tools/gen_tokenizer_fixtures.py; do not edit.\n"
      " * Regenerate: /usr/bin/python3 tools/gen_tokenizer_fixtures.py (from the repository root).\n"
      " * Source: Python %s (unicodedata %s: str.lower, str.isspace, html.entities.html5 and html's\n"
      " * numeric-reference rules) and the regex module %s (CLIP's pattern classes under IGNORECASE).\n"
      " * Used by tac_bpe.c only: character classes of every code point, Python's lower-casing, and the HTML5\n"
      " * named character references (%d names). Extra case twin under IGNORECASE: only 's' ~ U+017F.\n */\n"
      % (sys.version.split()[0], __import__("unicodedata").unidata_version, regex.__version__, len(ents)))
    w("#include <stdint.h>\n\n")
    w("/* Character classes: bit 1 letter \\p{L}, 2 number \\p{N}, 4 other [^\\s\\p{L}\\p{N}] (all three as matched\n"
      " * with IGNORECASE), 8 regex \\s, 16 str.isspace(), 32 case-ignorable, 64 cased (not ignorable) - the last\n"
      " * two for the final-sigma rule. Run r covers [tac_bpe_cls_start[r], tac_bpe_cls_start[r+1]). */\n")
    w("const int tac_bpe_cls_n = %d;\n" % len(starts))
    w("const uint32_t tac_bpe_cls_start[%d] = {" % len(starts))
    for i, s in enumerate(starts):
        w(("\n    " if i % 12 == 0 else " ") + "0x%X," % s)
    w("\n};\nconst uint8_t tac_bpe_cls_bits[%d] = {" % len(vals))
    for i, v in enumerate(vals):
        w(("\n    " if i % 24 == 0 else " ") + "%d," % v)
    w("\n};\n\n/* str.lower() for one code point (capital sigma excluded): run {start, count, stride, delta}:\n"
      " * start + k*stride (k < count) lower-cases to itself + delta. */\n")
    w("const int tac_bpe_lower_n = %d;\n" % len(runs))
    w("const int32_t tac_bpe_lower_runs[%d][4] = {" % len(runs))
    for i, r in enumerate(runs):
        w(("\n    " if i % 4 == 0 else " ") + "{0x%X, %d, %d, %d}," % r)
    w("\n};\n/* lower-casings longer than one code point */\n")
    w("const int tac_bpe_lower_multi_n = %d;\n" % len(multi))
    w("const uint32_t tac_bpe_lower_multi[%d][3] = {" % len(multi))
    for cp, low in multi:
        assert len(low) == 2
        w("{0x%X, 0x%X, 0x%X}," % (cp, ord(low[0]), ord(low[1])))
    w("};\n\n/* html.unescape: numeric references replaced by a fixed character, and code points dropped. */\n")
    w("const int tac_bpe_invalid_ref_n = %d;\n" % len(inv_refs))
    w("const uint32_t tac_bpe_invalid_ref[%d][2] = {" % len(inv_refs))
    for i, (k, v) in enumerate(inv_refs):
        w(("\n    " if i % 6 == 0 else " ") + "{0x%X, 0x%X}," % (k, ord(v)))
    w("\n};\nconst int tac_bpe_invalid_cp_n = %d;\n" % len(inv_cps))
    w("const uint32_t tac_bpe_invalid_cp[%d] = {" % len(inv_cps))
    for i, k in enumerate(inv_cps):
        w(("\n    " if i % 10 == 0 else " ") + "0x%X," % k)
    w("\n};\n\n/* html.entities.html5, sorted by name (bytewise); names with and without ';' as Python has them. */\n")
    w("const int tac_bpe_entity_n = %d;\n" % len(ents))
    w("const char *const tac_bpe_entity[%d][2] = {\n" % len(ents))
    for k, v in ents:
        w('    {"%s", %s},\n' % (k, c_bytes(v)))
    w("};\n")
    with open(path, "w") as f:
        f.write("".join(out))
    print("wrote %s: %d class runs, %d lower runs, %d entities" % (path, len(starts), len(runs), len(ents)))


# ------------------------------------------------------------------------------------------------ fixture
HARD = [
    "", " ", "   \t\n  ", "a", "A", "a photo of a cat.", "itap of a French_leave.",
    "Hello World", "HeLLo WoRLD!!!", "don't", "DON'T", "it's they're we've I'm you'll he'd", "'s'S's",
    "rock 'n' roll", "''s", "!'s", "x's", "O'Reilly's", "caf\u00e9", "CAF\u00c9", "na\u00efve r\u00e9sum\u00e9",
    "e\u0301", "Stra\u00dfe", "\u0130stanbul", "\u03a3\u0399\u03a3\u03a5\u03a6\u039f\u03a3 \u03a3", "\u1f88",
    "\u01c5 \u01c4", "\u017fs 'ſ \u212a", "\u65e5\u672c\u8a9e\u306e\u6587\u7ae0", "\u4e2d\u6587 \ud55c\uad6d\uc5b4",
    "\U0001F600\U0001F44D\U0001F3FD", "\u2764\ufe0f", "\u0645\u0631\u062d\u0628\u0627 \u0661\u0662\u0663",
    "&amp; &lt; &gt; &quot; &#39; &#x27; &#x1F600; &nbsp;x&nbsp;", "&amp;amp; &amp;lt;", "&AMP; &Amp;",
    "&notit; &notin; &not &noti", "&#0; &#13; &#128; &#150; &#xD800; &#x110000; &#99999999999999999999;",
    "&#1; &#x7f; &#xFDD0; &#x10FFFF; &#xFFFE;", "&#38 &#x26 &#; &#x; & &;", "&ampx; &ampamp;",
    "&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;", "&Eacute;t&eacute;", "a\u00a0b\u2003c\u3000d",
    "a\u001cb \u001c", "\u001c\u001fx\u001f", "\u0085x\u2028y\u2029", "a\u0345b",
    "many    spaces\t\ttabs\n\nnewlines\r\n", "...!!!???", "a.b,c;d:e", "--==++**", "#hashtag @user",
    "1234567890", "3.14159", "1,000,000", "\u2167 \u00bd \u00b2", "\uff21\uff22\uff23 \uff11\uff12",
    "\ufb01sh", "<|startoftext|>", "<|endoftext|>", "a<|startoftext|>b", "!<|endoftext|>",
    "<|STARTOFTEXT|>", "<|\u017ftartoftext|>", "<|startoftext|><|endoftext|>", "</w>", "a</w>b",
    "http://example.com/path?x=1&y=2", "C++ and C#", "e-mail", "\u201ccurly\u201d \u2018quotes\u2019",
    "don\u2019t", "\u00e9" * 30, "a " * 100, "supercalifragilisticexpialidocious " * 10,
    "word " * 75, "word " * 76, "\u00c5ngstr\u00f6m \u212b", "\ufffd", "\x00", "tab\tend",
    "MiXeD CaSe WoRdS", "under_score_word", "ALL_CAPS_LEMMA", "a \U00010400 \U0001D400",
]


def random_strings(n, seed=1234):
    rng = random.Random(seed)
    pieces = ["a", "b", "Z", "Q", "ing", "tion", "The", "cat", "photo", "0", "7", "42", " ", "  ", "\t", "\n",
              ".", ",", "!", "?", "-", "_", "'", "'s", "'T", "'re", "'VE", "'m", "'ll", "'d", "&", "#", ";",
              "&amp;", "&lt;", "&gt", "&#39;", "&#x1F600;", "&nbsp;", "&amp;amp;", "&#0;", "&#128;", "&#xD800;",
              "&notin", "&noti", "&Eacute;", "\u00e9", "\u00c9", "\u00df", "\u0130", "\u03a3", "\u03c3",
              "\u017f", "\u0345", "\u001c", "\u00a0", "\u3000", "\u65e5", "\u672c", "\U0001F600", "\u0661",
              "<|startoftext|>", "<|endoftext|>", "<|", "|>", "\u2167", "e\u0301", "\uff21", "\u01c5",
              "\ufb01", "\u212a", "\u0300", "\u2019", "\u00bd", "\U00010400", "\u1f88", "\u0589"]
    out = []
    for _ in range(n):
        k = rng.randint(1, 14)
        out.append("".join(rng.choice(pieces) for _ in range(k)))
    return out


def fnv_update(h, ids):
    for b in struct.pack("<%di" % len(ids), *ids):
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def write_fixture(path):
    tok = ref.ClipTokenizer(ref.DEFAULT_VOCAB)
    lines = ["# generated by tools/gen_tokenizer_fixtures.py from tools/ref_clip_tokenizer.py; do not edit"]
    for i, t in enumerate(ref.TEMPLATES):
        lines.append("T %d %s" % (i, t))
    for s in HARD + random_strings(1500):
        ids = tok.tokenize(s)
        n = len(ids)
        while ids[n - 1] == 0:
            n -= 1
        lines.append("S %s %d %s" % (s.encode("utf-8").hex() or "-", n, " ".join(map(str, ids[:n]))))
    nouns = ref.wordnet_nouns()
    assert len(nouns) == 146347, len(nouns)
    total = 0xCBF29CE484222325
    for c in range(0, (len(nouns) + CHUNK - 1) // CHUNK):
        h = 0xCBF29CE484222325
        part = nouns[c * CHUNK:(c + 1) * CHUNK]
        for noun in part:
            for t in ref.TEMPLATES:
                ids = tok.tokenize(t.format(noun))
                h = fnv_update(h, ids)
                total = fnv_update(total, ids)
        lines.append("W %d %d %d %016x" % (c, c * CHUNK, len(part), h))
    lines.append("A %d %016x" % (len(nouns), total))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


if __name__ == "__main__":
    if "--fixture-only" not in sys.argv:
        write_tables(os.path.join(ROOT, "src", "clip", "tac_bpe_tables.c"))
    if "--tables-only" not in sys.argv:
        write_fixture(os.path.join(ROOT, "tests", "fixtures", "tokenizer", "clip_tokenizer.txt"))
