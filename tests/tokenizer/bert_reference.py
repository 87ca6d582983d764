#!/usr/bin/env python3
"""BERT's uncased tokenizer (BasicTokenizer with do_lower_case=True, then WordPiece), written
again from the algorithm of google-research/bert's tokenization.py with Python's unicodedata, as
the independent reference that tests/check_tokenizer.c compares data/wordpiece.c against.
Imports nothing outside the standard library (no transformers).

  bert_reference.py cases STRINGS OUTDIR [--broken accents]
      every string of STRINGS (one Python str or bytes literal a line, '#' comments) tokenized:
      OUTDIR/vocab.txt (built here from the reference's own words) and OUTDIR/cases.txt, one
      line per string: HEX(utf-8 bytes) TAB words TAB wordpieces (space-separated)
  bert_reference.py codepoints OUTFILE
      every code point assigned in this Python's Unicode (of the private-use planes 15 and 16
      only the first and last), alone, between "a" and a capital sigma ("aXΣ"), and before a
      capital sigma ("XΣ"): HEX TAB words, one line each
  --broken accents   leave accents on (a deliberately wrong reference: the test of the test)

Policy decisions, each shared with the C side:
- input is bytes: BERT's convert_to_unicode decodes them with errors="ignore", so every byte
  of malformed UTF-8 is dropped (the C decoder drops it byte by byte: the same text remains);
- words are BERT's basic tokens; those over 100 characters are left out of the words column
  (lv_tokenizer_words skips them) but still give one [UNK] in the wordpieces column;
- WordPiece's max_input_chars_per_word is 100 (Hugging Face's BertTokenizer; Google's default
  was 200);
- special tokens written in the text ("[SEP]") are plain text, as in Google's tokenization.py
  (Hugging Face keeps them whole);
- Hugging Face's BasicTokenizer adds an NFC normalisation before the whitespace split; with
  lower-casing (NFD follows) it changes nothing, and every run checks that on every string.
"""
import ast
import sys
import unicodedata

MAX_CHARS = 100
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def is_whitespace(ch):
    if ch in " \t\n\r":
        return True
    return unicodedata.category(ch) == "Zs"


def is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_chinese_char(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def clean_text(text):
    out = []
    for ch in text:
        if ord(ch) == 0 or ord(ch) == 0xFFFD or is_control(ch):
            continue
        out.append(" " if is_whitespace(ch) else ch)
    return "".join(out)


def tokenize_chinese_chars(text):
    return "".join(" %s " % ch if is_chinese_char(ord(ch)) else ch for ch in text)


def strip_accents(text):
    return "".join(ch for ch in unicodedata.normalize("NFD", text)
                   if unicodedata.category(ch) != "Mn")


def split_on_punc(text):
    words, new_word = [], True
    for ch in text:
        if is_punctuation(ch):
            words.append(ch)
            new_word = True
        else:
            if new_word:
                words.append("")
            new_word = False
            words[-1] += ch
    return words


def basic_tokenize(data, accents=True, nfc=False):
    """BasicTokenizer.tokenize: the words, from bytes (decoded as convert_to_unicode does)."""
    text = data.decode("utf-8", "ignore") if isinstance(data, bytes) else data
    text = tokenize_chinese_chars(clean_text(text))
    if nfc:
        text = unicodedata.normalize("NFC", text)
    words = []
    for token in text.split():          # str.split(): U+2028 and U+2029 separate too
        token = token.lower()           # Python's lower(): final sigma, I with dot -> i + U+0307
        if accents:
            token = strip_accents(token)
        words.extend(split_on_punc(token))
    return " ".join(words).split()


def wordpiece(words, vocab):
    """WordpieceTokenizer.tokenize: greedy longest-match-first, "##" continuations."""
    out = []
    for word in words:
        if len(word) > MAX_CHARS:
            out.append("[UNK]")
            continue
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = ("##" if start > 0 else "") + word[start:end]
                if piece in vocab:
                    break
                end -= 1
            if end == start:
                pieces = ["[UNK]"]
                break
            pieces.append(piece)
            start = end
        out.extend(pieces)
    return out


def read_strings(path):
    """Each non-comment line a Python str or bytes literal; str is encoded as UTF-8."""
    cases = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            value = ast.literal_eval(line)
            if not isinstance(value, (str, bytes)):
                sys.exit("%s:%d: not a str or bytes literal" % (path, number))
            data = value.encode("utf-8") if isinstance(value, str) else value
            if b"\0" in data:
                sys.exit("%s:%d: a NUL ends a C string: leave it out" % (path, number))
            cases.append(data)
    return cases


def build_vocab(all_words):
    """From the reference's words: a third as whole words, and for every word its characters
    (first as itself, later ones as "##" + it) plus a two-character prefix and "##" suffix for
    the longest-match path; nothing containing "q" (so words with a q become [UNK])."""
    tokens = set()
    for i, word in enumerate(sorted(set(all_words))):
        if i % 3 == 0:
            tokens.add(word)
        tokens.add(word[0])
        tokens.update("##" + ch for ch in word[1:])
        if len(word) >= 4:
            tokens.add(word[:2])
            tokens.add("##" + word[-2:])
    return SPECIALS + sorted(t for t in tokens if "q" not in t and t not in SPECIALS)


def shown(words):
    return " ".join(words)


def check_nfc(data, words):
    if basic_tokenize(data, nfc=True) != words:
        sys.exit("Hugging Face's NFC step changes %r: %s" % (data, basic_tokenize(data, nfc=True)))


def main_cases(strings, outdir, accents):
    cases = read_strings(strings)
    words = [basic_tokenize(data, accents) for data in cases]
    for data in cases:
        check_nfc(data, basic_tokenize(data))
    vocab_list = build_vocab([x for w in words for x in w if len(x) <= MAX_CHARS])
    with open(outdir + "/vocab.txt", "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(t + "\n" for t in vocab_list))
    with open(outdir + "/vocab.txt", encoding="utf-8") as f:        # read back as BERT does
        vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
    with open(outdir + "/cases.txt", "w", encoding="utf-8", newline="\n") as f:
        for data, w in zip(cases, words):
            short = [x for x in w if len(x) <= MAX_CHARS]
            f.write("%s\t%s\t%s\n" % (data.hex(), shown(short), shown(wordpiece(w, vocab))))
    print("%d strings, %d vocabulary tokens, Unicode %s" %
          (len(cases), len(vocab_list), unicodedata.unidata_version))


def main_codepoints(outfile):
    n = 0
    with open(outfile, "w", encoding="utf-8", newline="\n") as f:
        for cp in range(0x110000):
            ch = chr(cp)
            if 0xD800 <= cp <= 0xDFFF or unicodedata.category(ch) == "Cn" or cp == 0:
                continue
            if cp >= 0xF0000 and cp & 0xFFFF not in (0, 0xFFFD):
                continue            # private-use planes 15 and 16: their first and last only
            for text in (ch, "a" + ch + "\u03a3", ch + "\u03a3"):
                data = text.encode("utf-8")
                w = basic_tokenize(data)
                check_nfc(data, w)
                f.write("%s\t%s\n" % (data.hex(), shown(x for x in w if len(x) <= MAX_CHARS)))
                n += 1
    print("%d strings over the code points of Unicode %s" % (n, unicodedata.unidata_version))


def main(argv):
    accents = True
    if argv[-2:] == ["--broken", "accents"]:
        accents, argv = False, argv[:-2]
    if len(argv) == 3 and argv[0] == "cases":
        main_cases(argv[1], argv[2], accents)
    elif len(argv) == 2 and argv[0] == "codepoints" and accents:
        main_codepoints(argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
