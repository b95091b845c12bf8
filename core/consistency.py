"""What a check of the vector index against the record store found."""

from pydantic import BaseModel, Field


class ConsistencyReport(BaseModel):
    """Where the vector index and the record store disagree (after a crash, a restore, a manual edit)."""

    chunks: int = Field(description="Chunks in the record store")
    points: int = Field(description="Points in the vector index")
    missing_vectors: list[str] = Field(default_factory=list, description="Chunks without a point")
    orphan_points: list[str] = Field(default_factory=list, description="Points without a chunk")
    wrong_status: list[str] = Field(default_factory=list, description="Points whose current/superseded flag is stale")
    repaired: bool = False

    @property
    def consistent(self) -> bool:
        return not (self.missing_vectors or self.orphan_points or self.wrong_status)
