"""Dependencies: the app's one corpus (the embedded vector engines lock their folder) and portfolio."""

import threading

from fastapi import Request

from agents.chat import ChatService, make_chat_service
from core.config import Settings
from core.portfolio import Portfolio, load_portfolio
from retrieval.corpus import Corpus


class AppState:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._corpus: Corpus | None = None
        self._chat: ChatService | None = None
        self._lock = threading.Lock()

    @property
    def corpus(self) -> Corpus:
        with self._lock:  # opened on first use so that the app starts at once
            if self._corpus is None:
                self._corpus = Corpus(self.settings)
            return self._corpus

    @property
    def chat(self) -> ChatService:
        corpus = self.corpus
        with self._lock:
            if self._chat is None:
                self._chat = make_chat_service(corpus, self.portfolio)
            return self._chat

    @property
    def portfolio(self) -> Portfolio:
        return load_portfolio(self.settings.portfolio_path)

    def close(self) -> None:
        if self._corpus is not None:
            self._corpus.close()


def get_state(request: Request) -> AppState:
    return request.app.state.cdmo


def get_corpus(request: Request) -> Corpus:
    return get_state(request).corpus


def get_chat(request: Request) -> ChatService:
    return get_state(request).chat
