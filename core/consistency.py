"""What a check of the vector index against the record store found."""

from enum import StrEnum

from pydantic import BaseModel, Field

from core.embeddings import EmbeddingStamp


class ConsistencyReport(BaseModel):
    """Where the vector index and the record store disagree (after a crash, a restore, a manual edit)."""

    chunks: int = Field(description="Chunks in the record store")
    points: int = Field(description="Points in the vector index")
    missing_vectors: list[str] = Field(default_factory=list, description="Chunks without a point")
    orphan_points: list[str] = Field(default_factory=list, description="Points without a chunk")
    wrong_status: list[str] = Field(default_factory=list, description="Points whose current/superseded flag is stale")
    damaged_vectors: list[str] = Field(
        default_factory=list, description="Points whose vector is not the chunk's (embedded again and compared)"
    )
    keyword_drift: list[str] = Field(
        default_factory=list, description="Passages whose keyword point is missing, stale or without a chunk"
    )
    keyword_damaged: list[str] = Field(
        default_factory=list, description="Passages whose keyword point holds other terms or numbers than its text's"
    )
    keywords_checked: int = Field(0, description="Keyword points compared with their passage's terms")
    vectors_checked: int = Field(0, description="Vectors compared with their chunk embedded again")
    unreadable: str | None = Field(None, description="Why the vector index could not be opened or read")
    rebuilt_from: str | None = Field(None, description="Where the damaged index was moved before it was rebuilt")
    arithmetic: "ArithmeticReport | None" = Field(None, description="Whether the vectors are this machine's")
    repaired: bool = False

    @property
    def consistent(self) -> bool:
        return not (
            self.missing_vectors
            or self.orphan_points
            or self.wrong_status
            or self.damaged_vectors
            or self.keyword_drift
            or self.keyword_damaged
            or self.unreadable
            or (self.arithmetic is not None and not self.arithmetic.mixable)
        )


class ArithmeticState(StrEnum):
    SAME = "same"  # the stored vectors are what this machine's embedder makes of their passages
    NEW = "new"  # no vectors yet: this machine's arithmetic is the index's from now on
    DIFFERS = "differs"  # made by another engine, weights or processor: not to be mixed with new ones
    REEMBEDDED = "reembedded"  # they differed, and were embedded again from the records
    DAMAGED = "damaged"  # the sampled vectors are not their passages' at all: damage, for the check to repair


class ArithmeticReport(BaseModel):
    """Whether the vector index was made by the arithmetic this process computes with."""

    state: ArithmeticState
    stored: EmbeddingStamp | None = Field(None, description="What made the index, as recorded (none before stamps)")
    current: EmbeddingStamp
    lowest_cosine: float | None = Field(None, description="Of the sampled passages' stored and fresh vectors")
    passages_compared: int = 0
    reembedded: int = Field(0, description="Passages embedded again")
    words: str

    @property
    def mixable(self) -> bool:
        """Whether new vectors may be added beside the stored ones."""
        return self.state != ArithmeticState.DIFFERS

ConsistencyReport.model_rebuild()
