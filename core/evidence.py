"""Evidence: the exact passage a finding rests on. Every finding, event field and citation carries one."""

from enum import StrEnum

from pydantic import BaseModel, Field


class Alignment(StrEnum):
    EXACT = "exact"  # the quote is the page text, character for character
    WHITESPACE = "whitespace"  # equal once line breaks and runs of spaces are ignored
    CASE = "case"  # equal once case and whitespace are ignored


class Evidence(BaseModel):
    document_id: str
    page: int = Field(description="1-based page number")
    start: int = Field(description="Character offset into the page text")
    end: int
    quote: str = Field(description="The page text from start to end")
    alignment: Alignment = Alignment.EXACT

    @property
    def span(self) -> tuple[str, int, int, int]:
        """Where the passage is: two records with the same span cite the same text."""
        return self.document_id, self.page, self.start, self.end


class GroundingReport(BaseModel):
    """How many quotes a backend offered and how many were found in the document."""

    offered: int = 0
    grounded: int = 0
    dropped: list[str] = Field(default_factory=list, description="Quotes not found in the text (or in hostile text)")
    invalid_outputs: int = Field(0, description="Model answers that failed validation and were re-asked")
    fallbacks: list[str] = Field(
        default_factory=list, description="Where the rules answered because the model could not"
    )

    def merge(self, other: "GroundingReport") -> None:
        self.offered += other.offered
        self.grounded += other.grounded
        self.dropped.extend(other.dropped)
        self.invalid_outputs += other.invalid_outputs
        self.fallbacks.extend(other.fallbacks)
