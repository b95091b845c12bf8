"""What a check of the vector index against the record store found."""

from pydantic import BaseModel, Field


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
    vectors_checked: int = Field(0, description="Vectors compared with their chunk embedded again")
    unreadable: str | None = Field(None, description="Why the vector index could not be opened or read")
    rebuilt_from: str | None = Field(None, description="Where the damaged index was moved before it was rebuilt")
    repaired: bool = False

    @property
    def consistent(self) -> bool:
        return not (
            self.missing_vectors
            or self.orphan_points
            or self.wrong_status
            or self.damaged_vectors
            or self.keyword_drift
            or self.unreadable
        )
