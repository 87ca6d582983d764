#!/usr/bin/env python3
"""The references tests/check_text_metrics.c compares ref/text_metrics.c against, on the same
corpora: hand-made cases and seeded random ones, the texts written as word ids.

  reference.py bleu OUT [--broken]
      BLEU-4 by nltk (Debian's python3-nltk): nltk.translate.bleu_score.corpus_bleu per corpus
      and sentence_bleu per sample, default weights, no smoothing. Exits 3 without nltk.
  reference.py coco OUT [--broken]
      ROUGE-L and CIDEr-D written again here from coco-caption's definitions (pycocoevalcap's
      rouge.py and vrama91's ciderD_scorer.py, corpus document frequencies), standard library
      only: coco-caption is not packaged, and this one takes token lists instead of strings.
  --broken   a deliberately wrong reference, the test of the test: BLEU without clipping (an
             n-gram counts every time it occurs, if any reference holds it); ROUGE-L with beta 1
             and CIDEr-D without clipping (min(g_c, g_r) g_r becomes g_c g_r).

OUT, one item a line: "corpus NAME S", then per sample "sample R V..." (its sentence BLEU, or
its ROUGE-L and CIDEr-D), "c IDS" (the candidate), R lines "r IDS" (the references), and after
the samples "total V..." (corpus BLEU, or mean ROUGE-L and mean CIDEr-D). Values are repr()s.

Policies shared with the C side where coco-caption's strings and our token lists differ: an
empty candidate or reference gives ROUGE-L precision or recall 0 (coco's "".split(" ") would be
one empty token); CIDEr-D's length penalty here counts bigrams as coco-caption does (its
"if n == 1" is the bigram order), which equals the word count difference whenever both texts
are non-empty, and when one is empty every cosine is 0 anyway: the C side uses word counts, and
these corpora check that the two agree.
"""
import math
import random
import sys
import warnings
from collections import Counter

CORPORA = 40                        # random corpora, after the hand cases
SEED = 20240917

# The hand cases of tests/check_text_metrics.c (the figures in its comments), and nltk's own
# docstring examples: (name, [(candidate, [references])]), words split on spaces.
NLTK_HYP1 = ("It is a guide to action which ensures that the military always obeys the commands "
             "of the party")
NLTK_REFS1 = ["It is a guide to action that ensures that the military will forever heed Party "
              "commands",
              "It is the guiding principle which guarantees the military forces always being "
              "under the command of the Party",
              "It is the practical guide for the army always to heed the directions of the party"]
NLTK_HYP2 = "he read the book because he was interested in world history"
NLTK_REF2 = "he was interested in world history because he read the book"
HAND = [
    ("nltk-sentence-doc", [(NLTK_HYP1, NLTK_REFS1)]),
    ("nltk-corpus-doc", [(NLTK_HYP1, NLTK_REFS1), (NLTK_HYP2, [NLTK_REF2])]),
    ("partial", [("a b c d e", ["a b c d f g"])]),
    ("clipping", [("a a a a a a", ["a a a a x y"])]),
    ("tie-shorter", [("a b c d e", ["a b c d", "a b c d e f"])]),
    ("short-candidate", [("a b c", ["a b c"]), ("a b c d e", ["a b c d e"])]),
    ("identical", [("a man is playing a guitar", ["a man is playing a guitar"])]),
    ("empty-candidate", [("", ["a b c"])]),
    ("empty-reference", [("a b c d", ["", "a b c d e"])]),
    ("rouge-beta", [("a cat sat on the mat", ["the cat was sitting on the mat"])]),
    ("rouge-two-refs", [("a b c d", ["a b", "a b c x y z w"])]),
    ("cider-two", [("a b", ["a b"]), ("c", ["c d"])]),
    ("cider-three", [("b b", ["a b", "a c"]), ("a d", ["a d"]), ("e", ["a e"])]),
]


def hand_corpora():
    """The hand cases as id lists: each corpus's words numbered in order of appearance."""
    for name, samples in HAND:
        ids = {}
        to_ids = lambda s: [ids.setdefault(w, len(ids)) for w in s.split()]
        yield name, [(to_ids(c), [to_ids(r) for r in refs]) for c, refs in samples]


def mutated(rng, words, vocab):
    """A copy of words with random substitutions, deletions and insertions (some overlap with
    the original, so high-order n-grams match often enough for BLEU to be non-zero)."""
    out = []
    for w in words:
        u = rng.random()
        if u < 0.12:
            out.append(rng.choice(vocab))
        elif u < 0.2:
            continue
        else:
            out.append(w)
        if rng.random() < 0.08:
            out.append(rng.choice(vocab))
    return out


def random_corpus(rng, k):
    """Corpus k: 1..12 samples (every tenth 30..60), 1..4 references each, 2..10 distinct words
    drawn as arbitrary int32 ids (negative ones too), lengths 0..14 with short and empty texts;
    odd corpora derive candidates from a reference, even ones draw them independently."""
    vocab = rng.sample(range(-2**31, 2**31), rng.randint(2, 10))
    n_samples = rng.randint(30, 60) if k % 10 == 0 else rng.randint(1, 12)
    corpus = []
    for _ in range(n_samples):
        refs = []
        for _ in range(rng.randint(1, 4)):
            n = 0 if rng.random() < 0.05 else rng.randint(1, 14)
            refs.append([rng.choice(vocab) for _ in range(n)])
        if k % 2 and rng.random() < 0.8:
            cand = mutated(rng, rng.choice(refs), vocab)
        else:
            n = rng.randint(0, 3) if rng.random() < 0.15 else rng.randint(1, 12)
            cand = [rng.choice(vocab) for _ in range(n)]
        corpus.append((cand, refs))
    return corpus


def corpora():
    yield from hand_corpora()
    rng = random.Random(SEED)
    for k in range(CORPORA):
        yield "random-%d" % k, random_corpus(rng, k)


def write(out, name, corpus, per_sample, total):
    out.write("corpus %s %d\n" % (name, len(corpus)))
    for (cand, refs), values in zip(corpus, per_sample):
        out.write("sample %d %s\n" % (len(refs), " ".join(repr(float(v)) for v in values)))
        out.write(" ".join(["c"] + [str(i) for i in cand]) + "\n")
        for r in refs:
            out.write(" ".join(["r"] + [str(i) for i in r]) + "\n")
    out.write("total %s\n" % " ".join(repr(float(v)) for v in total))


# ---- BLEU: nltk ----------------------------------------------------------------------------

def unclipped_precision(references, hypothesis, n):
    """nltk's modified_precision without the clipping: the broken reference."""
    from fractions import Fraction
    from nltk.util import ngrams
    counts = Counter(ngrams(hypothesis, n)) if len(hypothesis) >= n else Counter()
    held = set()
    for r in references:
        held.update(ngrams(r, n) if len(r) >= n else [])
    numerator = sum(c for g, c in counts.items() if g in held)
    return Fraction(numerator, max(1, sum(counts.values())), _normalize=False)


def main_bleu(path, broken):
    try:
        import nltk
        from nltk.translate import bleu_score
    except ImportError:
        print("no nltk: apt-get install python3-nltk")
        sys.exit(3)
    if broken:
        bleu_score.modified_precision = unclipped_precision
    warnings.simplefilter("ignore")     # nltk warns at every zero precision
    count = 0
    with open(path, "w") as out:
        for name, corpus in corpora():
            hyps = [c for c, _ in corpus]
            refs = [r for _, r in corpus]
            sentence = [[bleu_score.sentence_bleu(r, c)] for c, r in corpus]
            write(out, name, corpus, sentence, [bleu_score.corpus_bleu(refs, hyps)])
            count += 1
    print("nltk %s%s: corpus_bleu of %d corpora written to %s" %
          (nltk.__version__, " (BROKEN: no clipping)" if broken else "", count, path))


# ---- ROUGE-L and CIDEr-D: coco-caption's definitions ---------------------------------------

def lcs(a, b):
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = (table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1]
                           else max(table[i - 1][j], table[i][j - 1]))
    return table[len(a)][len(b)]


def rouge_l(cand, refs, beta):
    """coco-caption's Rouge.calc_score: precision and recall each maximised over references."""
    prec = [lcs(r, cand) / len(cand) if cand else 0.0 for r in refs]
    rec = [lcs(r, cand) / len(r) if r else 0.0 for r in refs]
    p, r = max(prec), max(rec)
    if p == 0 or r == 0:
        return 0.0
    return (1 + beta ** 2) * p * r / (r + beta ** 2 * p)


def ngram_counts(words, n=4):
    return Counter(tuple(words[i:i + k]) for k in range(1, n + 1)
                   for i in range(len(words) - k + 1))


def cider_d(corpus, clip, sigma=6.0, n=4):
    """vrama91's CiderD (coco-caption's Cider), df_mode "corpus": returns the per-sample scores."""
    df = Counter()
    for _, refs in corpus:
        df.update(set(g for r in refs for g in ngram_counts(r, n)))
    log_size = math.log(float(len(corpus)))

    def vector(counts):
        vec = [{} for _ in range(n)]
        norm = [0.0] * n
        length = 0
        for g, tf in counts.items():
            vec[len(g) - 1][g] = float(tf) * (log_size - math.log(max(1.0, df[g])))
            norm[len(g) - 1] += vec[len(g) - 1][g] ** 2
            if len(g) == 2:             # coco-caption's "if n == 1": the bigram count
                length += tf
        return vec, [math.sqrt(x) for x in norm], length

    scores = []
    for cand, refs in corpus:
        vc, nc, lc = vector(ngram_counts(cand, n))
        total = [0.0] * n
        for r in refs:
            vr, nr, lr = vector(ngram_counts(r, n))
            delta = float(lc - lr)
            for k in range(n):
                val = sum((min(g, vr[k].get(gram, 0.0)) if clip else g) * vr[k].get(gram, 0.0)
                          for gram, g in vc[k].items())
                if nc[k] != 0 and nr[k] != 0:
                    val /= nc[k] * nr[k]
                total[k] += val * math.e ** (-(delta ** 2) / (2 * sigma ** 2))
        scores.append(sum(total) / n / len(refs) * 10.0)
    return scores


def main_coco(path, broken):
    beta = 1.0 if broken else 1.2
    count = 0
    with open(path, "w") as out:
        for name, corpus in corpora():
            rouge = [rouge_l(c, r, beta) for c, r in corpus]
            cider = cider_d(corpus, clip=not broken)
            write(out, name, corpus, list(zip(rouge, cider)),
                  [sum(rouge) / len(rouge), sum(cider) / len(cider)])
            count += 1
    print("coco-caption ROUGE-L and CIDEr-D%s of %d corpora written to %s" %
          (" (BROKEN: beta 1, no clipping)" if broken else "", count, path))


def main(argv):
    broken = argv[-1:] == ["--broken"]
    if broken:
        argv = argv[:-1]
    if len(argv) == 2 and argv[0] == "bleu":
        main_bleu(argv[1], broken)
    elif len(argv) == 2 and argv[0] == "coco":
        main_coco(argv[1], broken)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
