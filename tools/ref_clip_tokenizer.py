#!/usr/bin/python3
"""ref_clip_tokenizer.py - an independent Python re-implementation of OpenAI CLIP's text tokenizer
(clip.tokenize(texts, context_length=77, truncate=True) with clip/simple_tokenizer.py), used as the oracle
for taclust's C tokenizer (src/clip/tac_bpe.c) by tools/gen_tokenizer_fixtures.py and bench/bench_tokenizer.sh.

Run with Debian's python (it needs the `regex` module):
    /usr/bin/python3 tools/ref_clip_tokenizer.py [--vocab FILE.gz] TEXT...      prints the ids of each TEXT
    /usr/bin/python3 tools/ref_clip_tokenizer.py --bench [--limit N]          times the WordNet x 7 prompts
As a module: tok = ClipTokenizer(path); tok.tokenize(text) -> list of 77 ints.

Pipeline (the order matters and is OpenAI's):
  1. ftfy.fix_text - ftfy is not installed on our machines; fix_text is the identity on clean text (ASCII,
     NFC text without mojibake, curly quotes, ligatures or full-width forms), so it is skipped here and in C.
     Pass use_ftfy=True to apply it when ftfy happens to be importable (only to measure the difference).
  2. html.unescape applied twice, then str.strip().
  3. whitespace_clean: every run of regex-module \\s becomes one space, then str.strip().
  4. str.lower() (full Unicode lower-casing, final sigma included).
  5. findall of the CLIP pattern (IGNORECASE) with the `regex` module.
  6. each piece's UTF-8 bytes mapped through the byte->unicode table, BPE by merge rank, '</w>' on the
     last symbol, ids from the vocabulary.
  7. [SOT] + ids + [EOT], cut to 77 with EOT kept last, zero padded.
"""
import gzip
import html
import os
import sys
import time

import regex

SOT_TEXT = "<|startoftext|>"
EOT_TEXT = "<|endoftext|>"
N_MERGES = 49152 - 256 - 2
CLIP_PATTERN = (r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d"
                r"|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+")
DEFAULT_VOCAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "models",
                             "clip-vit-base-patch32", "bpe_simple_vocab_16e6.txt.gz")


def byte_alphabet():
    """The 256 characters standing for the bytes 0..255: printable Latin-1 bytes stand for themselves,
    the others get code points 256, 257, ... in byte order. Returned as a list indexed by byte, plus the
    vocabulary order (the self-standing bytes first, then the others)."""
    keep = [b for b in range(256) if 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255]
    table = [None] * 256
    for b in keep:
        table[b] = chr(b)
    order = list(keep)
    extra = 0
    for b in range(256):
        if table[b] is None:
            table[b] = chr(256 + extra)
            extra += 1
            order.append(b)
    return table, [table[b] for b in order]


class ClipTokenizer:
    def __init__(self, vocab_path=DEFAULT_VOCAB, use_ftfy=False):
        with gzip.open(vocab_path, "rb") as f:
            lines = f.read().decode("utf-8").split("\n")
        merges = [tuple(line.split()) for line in lines[1:1 + N_MERGES]]
        self.byte_char, base = byte_alphabet()
        tokens = base + [c + "</w>" for c in base] + ["".join(m) for m in merges] + [SOT_TEXT, EOT_TEXT]
        self.ids = {}
        for i, t in enumerate(tokens):
            self.ids[t] = i            # a repeated string keeps its last id, like dict(zip(...))
        self.rank = {}
        for r, m in enumerate(merges):
            self.rank[m] = r
        self.memo = {SOT_TEXT: [self.ids[SOT_TEXT]], EOT_TEXT: [self.ids[EOT_TEXT]]}
        self.pattern = regex.compile(CLIP_PATTERN, regex.IGNORECASE)
        self.space_runs = regex.compile(r"\s+")
        self.use_ftfy = use_ftfy
        self.sot = self.ids[SOT_TEXT]
        self.eot = self.ids[EOT_TEXT]

    def normalise(self, text):
        if self.use_ftfy:
            import ftfy
            text = ftfy.fix_text(text)
        text = html.unescape(html.unescape(text)).strip()
        text = self.space_runs.sub(" ", text).strip()
        return text.lower()

    def word_ids(self, piece):
        """BPE of one pre-token (already mapped to byte characters) -> vocabulary ids."""
        got = self.memo.get(piece)
        if got is not None:
            return got
        syms = list(piece[:-1]) + [piece[-1] + "</w>"]
        while len(syms) > 1:
            best, best_rank = None, None
            for k in range(len(syms) - 1):
                r = self.rank.get((syms[k], syms[k + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = (syms[k], syms[k + 1]), r
            if best is None:
                break
            out, k = [], 0
            while k < len(syms):
                if k + 1 < len(syms) and syms[k] == best[0] and syms[k + 1] == best[1]:
                    out.append(best[0] + best[1])
                    k += 2
                else:
                    out.append(syms[k])
                    k += 1
            syms = out
        got = [self.ids[s] for s in syms]
        self.memo[piece] = got
        return got

    def encode(self, text):
        out = []
        for piece in self.pattern.findall(self.normalise(text)):
            mapped = "".join(self.byte_char[b] for b in piece.encode("utf-8"))
            out.extend(self.word_ids(mapped))
        return out

    def tokenize(self, text, context=77):
        ids = [self.sot] + self.encode(text) + [self.eot]
        if len(ids) > context:
            ids = ids[:context]
            ids[-1] = self.eot
        return ids + [0] * (context - len(ids))


TEMPLATES = ["itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
             "a {} in a video game.", "art of the {}.", "a photo of the small {}."]


def wordnet_nouns(path="/usr/share/wordnet/data.noun"):
    """One string per lemma of every noun synset of data.noun, in file order; underscores and case kept."""
    nouns = []
    with open(path, "r", encoding="ascii") as f:
        for line in f:
            if line.startswith("  "):
                continue                     # licence header
            fields = line.split(" ")
            count = int(fields[3], 16)
            for k in range(count):
                nouns.append(fields[4 + 2 * k])
    return nouns


def main(argv):
    vocab, bench, limit, texts = DEFAULT_VOCAB, False, None, []
    i = 0
    while i < len(argv):
        if argv[i] == "--vocab":
            vocab = argv[i + 1]; i += 2
        elif argv[i] == "--bench":
            bench = True; i += 1
        elif argv[i] == "--limit":
            limit = int(argv[i + 1]); i += 2
        else:
            texts.append(argv[i]); i += 1
    tok = ClipTokenizer(vocab)
    if bench:
        nouns = wordnet_nouns()
        if limit:
            nouns = nouns[:limit]
        prompts = [t.format(n) for n in nouns for t in TEMPLATES]
        t0 = time.perf_counter()
        for p in prompts:
            tok.tokenize(p)
        dt = time.perf_counter() - t0
        print("python reference (this script, 1 thread, memo cold at start): %d prompts in %.3f s = %.0f prompts/s"
              % (len(prompts), dt, len(prompts) / dt))
        return 0
    for t in texts:
        ids = tok.tokenize(t)
        n = len(ids)
        while n > 0 and ids[n - 1] == 0:
            n -= 1
        print(" ".join(str(x) for x in ids[:n]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
