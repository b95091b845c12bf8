"""The peer the benchmark measures the product against: a plain LangChain pipeline, as a team would first
write one — PyPDF's text per page, LangChain's recursive character splitter (1,000 characters, 200 of
overlap, its defaults in the tutorials), the same MiniLM weights through sentence-transformers (what
LangChain's HuggingFaceEmbeddings runs), and LangChain's in-memory vector store.

It has no classification, no tables, no OCR, no identifiers, no keyword search and no records: what it does
is the floor of what ingestion costs, and its recall on the product's gold is what that floor buys.
"""

import io
import time
from pathlib import Path

from langchain_core.documents import Document as LangChainDocument
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_text_splitters import RecursiveCharacterTextSplitter
from pydantic import BaseModel
from pypdf import PdfReader

from core.embeddings import TorchEmbedder


class SentenceTransformerEmbeddings(Embeddings):
    def __init__(self, embedder: TorchEmbedder):
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed([text])[0].tolist()


class PeerRun(BaseModel):
    files: int
    pages: int
    chunks: int
    seconds: float
    pages_per_second: float


class PeerPipeline:
    def __init__(self, embedder: TorchEmbedder):
        self.splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        self.store = InMemoryVectorStore(SentenceTransformerEmbeddings(embedder))

    def ingest(self, files: list[tuple[str, bytes]]) -> PeerRun:
        started, pages, chunks = time.perf_counter(), 0, 0
        for name, data in files:
            page_texts = [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]
            docs = [LangChainDocument(text, metadata={"source": name, "page": i + 1}) for i, text in enumerate(page_texts)]
            pieces = self.splitter.split_documents(docs)
            if pieces:
                self.store.add_documents(pieces)
            pages, chunks = pages + len(docs), chunks + len(pieces)
        seconds = time.perf_counter() - started
        return PeerRun(files=len(files), pages=pages, chunks=chunks, seconds=round(seconds, 2),
                       pages_per_second=round(pages / seconds, 2))  # fmt: skip

    def search(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        """(file name, text) of the k nearest passages."""
        return [(d.metadata["source"], d.page_content) for d in self.store.similarity_search(query, k=k)]


def pdf_copies(corpus_dir: Path, files: int) -> list[tuple[str, bytes]]:
    """The sample PDFs repeated until there are `files` of them: the originals first, then copies under the
    same names, each of its own bytes (a trailing comment, which a PDF reader skips), as a file sent again
    is: stored as a new version, not taken for the one already stored."""
    pdfs = sorted(corpus_dir.glob("*.pdf"))
    out = []
    for i in range(files):
        path, copy = pdfs[i % len(pdfs)], i // len(pdfs)
        out.append((path.name, path.read_bytes() + (f"\n% copy {copy}\n".encode() if copy else b"")))
    return out
