"""The field F1 and pair F1 as the evaluation sets define them ("Document figures"), for bench/ and tests/."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from edge_runtime.fields.normalise import decimal_amount

__all__ = ["RECEIPT_FIELDS", "normalised", "FieldScores", "field_scores", "pair_scores", "PairScores"]

RECEIPT_FIELDS = ("company", "date", "address", "total")


def normalised(name: str, text: str) -> str:
    """A field's text as the figure compares it: upper-case, one space; the total as a two-place decimal."""
    text = " ".join(text.upper().split())
    if name == "total" and text:
        return decimal_amount(text) or text
    return text


@dataclass(frozen=True)
class FieldScores:
    precision: float
    recall: float
    f1: float
    per_field: dict[str, float]  # accuracy: correct / receipts with the field in the truth


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def field_scores(
    predicted: Sequence[Mapping[str, str]], truth: Sequence[Mapping[str, str]], names: Sequence[str] = RECEIPT_FIELDS
) -> FieldScores:
    """Precision, recall and F1 over all receipts and ``names`` together, and each field's accuracy."""
    correct = Counter[str]()
    n_pred = n_true = 0
    true_by = Counter[str]()
    for pred, gold in zip(predicted, truth, strict=True):
        for name in names:
            p, t = normalised(name, pred.get(name, "")), normalised(name, gold.get(name, ""))
            n_pred += bool(p)
            n_true += bool(t)
            true_by[name] += bool(t)
            correct[name] += bool(p) and p == t
    total = sum(correct.values())
    precision = total / n_pred if n_pred else 0.0
    recall = total / n_true if n_true else 0.0
    return FieldScores(
        precision, recall, _f1(precision, recall), {n: correct[n] / true_by[n] if true_by[n] else 0.0 for n in names}
    )


def _words(text: str) -> Counter[str]:
    return Counter(w for w in re.split(r"[^0-9a-z]+", text.lower()) if w)


def _word_f1(a: Counter[str], b: Counter[str]) -> float:
    common = sum((a & b).values())
    if not common:
        return 0.0
    return _f1(common / sum(a.values()), common / sum(b.values()))


@dataclass(frozen=True)
class PairScores:
    predicted: int
    true: int
    found: int
    precision: float
    recall: float
    f1: float


def pair_scores(
    predicted: Sequence[Iterable[tuple[str, str]]], truth: Sequence[Iterable[tuple[str, str]]]
) -> PairScores:
    """Pair F1 over forms: a true pair is found by a predicted one with word F1 >= 0.8 on key and on value,
    matched one-to-one, best (key F1 + value F1) first; predicted pairs with an empty value are left out."""
    n_pred = n_true = found = 0
    for pred_pairs, true_pairs in zip(predicted, truth, strict=True):
        preds = [(_words(k), _words(v)) for k, v in pred_pairs if _words(v)]
        trues = [(_words(k), _words(v)) for k, v in true_pairs]
        n_pred += len(preds)
        n_true += len(trues)
        scored = []
        for i, (pk, pv) in enumerate(preds):
            for j, (tk, tv) in enumerate(trues):
                kf, vf = _word_f1(pk, tk), _word_f1(pv, tv)
                if kf >= 0.8 and vf >= 0.8:
                    scored.append((kf + vf, i, j))
        used_p, used_t = set(), set()
        for _, i, j in sorted(scored, reverse=True):
            if i not in used_p and j not in used_t:
                used_p.add(i)
                used_t.add(j)
                found += 1
    precision = found / n_pred if n_pred else 0.0
    recall = found / n_true if n_true else 0.0
    return PairScores(n_pred, n_true, found, precision, recall, _f1(precision, recall))
