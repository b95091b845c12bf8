"""Records of a chat exchange: the question's scope, the answer's sentences and the passages they cite."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from core.evidence import Evidence

OFFLINE = "offline"  # the backend label of answers written without an LLM


class ChatScope(BaseModel):
    """What the user picked in the panel: one site, one program, or all (None)."""

    site: str | None = None
    program: str | None = None


class Citation(Evidence):
    """A cited passage, numbered as the answer's sentences refer to it."""

    marker: int = Field(description="The [n] the answer's sentences use")
    title: str
    filename: str


class AnswerSentence(BaseModel):
    text: str
    citations: list[int] = Field(default_factory=list, description="Markers of the citations that support it")


class AnswerKind(StrEnum):
    STRUCTURED = "structured"  # read from stored events and findings
    EXTRACTIVE = "extractive"  # the best supporting sentences of the corpus, stitched
    GENERATED = "generated"  # written by the LLM agent from its tools' passages
    NO_ANSWER = "no_answer"  # nothing in the corpus supports an answer


class Answer(BaseModel):
    session_id: str
    question: str
    scope: ChatScope
    kind: AnswerKind
    sentences: list[AnswerSentence] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)
    backend: str
    dropped_citations: int = Field(0, description="Citations that failed the support check and were removed")
    fallback: str | None = Field(None, description="Why the offline answer was given in place of the LLM's")

    @property
    def text(self) -> str:
        return " ".join(s.text + "".join(f" [{m}]" for m in s.citations) for s in self.sentences)

    @property
    def answered(self) -> bool:
        return self.kind != AnswerKind.NO_ANSWER


class ChatTurn(BaseModel):
    """One question and answer of a session, kept so that follow-ups can be read against it."""

    session_id: str
    ordinal: int
    owner: str | None = Field(None, description="Who opened the session (kind:name): nobody else may read or add to it")
    question: str
    frame: dict = Field(description="The question as the agent read it (its QuestionFrame)")
    answer: Answer
    asked_at: datetime


class ChatSessionSummary(BaseModel):
    """A session in the list the web app shows: its first question, and when it was last asked into."""

    session_id: str
    question: str
    asked_at: datetime


class ChatEventType(StrEnum):
    START = "start"  # session id, scope, how the question was read
    SENTENCE = "sentence"  # one answer sentence, as soon as it is ready
    CITATION = "citation"  # a cited passage, before the first sentence that uses it
    DONE = "done"  # the whole answer
    ERROR = "error"


class ChatEvent(BaseModel):
    type: ChatEventType
    data: dict
