"""Are the stored vectors the ones this machine's embedder makes? Vectors of two arithmetics are never mixed.

An index holds the vectors of the engine, weights and processor that made it. Another machine may compute
otherwise (onnxruntime's int8 kernels with and without AVX-512 VNNI), and a changed engine or model surely
does: a query vector of one arithmetic against passages of another ranks near ties by chance, and passages
added by the new one sit beside the old ones on another scale. So when the corpus opens, a few stored passages
are embedded again and compared with their stored vectors; when most of them fall below `SAME`, the index is
of another arithmetic, unless they fall below `DAMAGED` too: bytes overwritten are damage, which the check finds
vector by vector and repairs (retrieval.integrity), not a reason to embed everything again. The stamp kept with
the records says whose arithmetic it is, and other weights are always another. An int8 engine's vectors depend on what
they were batched with, so there the stamp alone decides: the same engine, weights, runtime and instruction sets.
"""

import numpy as np

from core.consistency import ArithmeticReport, ArithmeticState
from core.embeddings import EmbeddingStamp

SAMPLE = 8  # passages embedded again when the corpus opens: about 0.1 s
# cosine of a stored vector and a fresh one of the same passage: fp32 on two x86-64 CPUs agrees to 1 - 1e-12;
# the int8 model on AVX2 against the same model computed exactly (as VNNI does) 0.991 to 0.993
SAME = 0.9999
DAMAGED = 0.95  # below: the stored vector is not its passage's at all


def judge(stored: EmbeddingStamp | None, current: EmbeddingStamp, kept: list[np.ndarray], fresh: np.ndarray) -> ArithmeticReport:
    """Stored vectors of sampled passages against the same passages embedded now. One damaged vector is
    damage (retrieval.integrity finds it); most of them apart is another arithmetic."""
    if not kept:
        return ArithmeticReport(state=ArithmeticState.NEW, stored=stored, current=current,
                                words=f"no vectors yet: the index takes this machine's, {current.describe()}")  # fmt: skip
    if not current.exact:
        return _by_stamp(stored, current, len(kept))
    cosines = [float(k @ f) / max(float(np.linalg.norm(k)), 1e-12) for k, f in zip(kept, fresh)]
    lowest, median = round(min(cosines), 6), float(np.median(cosines))
    other_weights = stored is not None and stored.weights != current.weights
    if median < DAMAGED and not other_weights:
        return ArithmeticReport(state=ArithmeticState.DAMAGED, stored=stored, current=current, lowest_cosine=lowest,
                                passages_compared=len(kept),
                                words=f"most of {len(kept)} sampled vectors are not their passages': the index is "
                                      "damaged (`cdmo check --repair` writes them anew)")  # fmt: skip
    if median >= SAME and not other_weights:
        return ArithmeticReport(state=ArithmeticState.SAME, stored=stored, current=current, lowest_cosine=lowest,
                                passages_compared=len(kept),
                                words=f"the vectors are this machine's: {len(kept)} passages embedded again agree "
                                      f"with their stored vectors ({current.describe()})")  # fmt: skip
    return ArithmeticReport(
        state=ArithmeticState.DIFFERS, stored=stored, current=current, lowest_cosine=lowest,
        passages_compared=len(kept),
        words=f"the vector index was made by {_made_by(stored)}; this machine's embedder, {current.describe()}, makes "
              f"other vectors of the same passages (cosine {lowest:.4f} for the most changed of {len(kept)}), so the "
              "two are not mixed",
    )  # fmt: skip


def _by_stamp(stored: EmbeddingStamp | None, current: EmbeddingStamp, sampled: int) -> ArithmeticReport:
    if stored is not None and stored.same_arithmetic(current) and stored.processor.features == current.processor.features:
        return ArithmeticReport(state=ArithmeticState.SAME, stored=stored, current=current, passages_compared=sampled,
                                words=f"the vectors are this machine's: made by {current.describe()}")  # fmt: skip
    return ArithmeticReport(
        state=ArithmeticState.DIFFERS, stored=stored, current=current, passages_compared=sampled,
        words=f"the vector index was made by {_made_by(stored)}; this machine's embedder is {current.describe()}, "
              "whose int8 kernels compute otherwise, so the two are not mixed",
    )  # fmt: skip


def _made_by(stored: EmbeddingStamp | None) -> str:
    return stored.describe() if stored else "an earlier release, which kept no record of its engine"


def reembedded(report: ArithmeticReport, passages: int, when: str) -> ArithmeticReport:
    return report.model_copy(update={
        "state": ArithmeticState.REEMBEDDED, "reembedded": passages,
        "words": f"{report.words}: all {passages:,} passages were embedded again from the records {when}",
    })  # fmt: skip
