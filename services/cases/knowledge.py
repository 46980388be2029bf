"""The knowledge base's search index: tantivy (Rust, in process), rebuilt from the service's own
articles at start and kept current on publish (and by a short poll, so that every replica sees the
articles another one published). The database is the truth; the index only ranks.

Ranking is tantivy's BM25 over title (boost 3), tags (boost 2) and body, each with the English
stemmer (`en_stem`: "resetting passwords" finds "password reset"). The last word of the query also
matches as a prefix of title words, so suggestions work while a subject is being typed. The product
filter is an exact (case-insensitive) term. The highlight is tantivy's snippet of the body around
the best-scoring terms, HTML-escaped, the matches in <b>…</b>.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import tantivy

WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_WORDS = 24
SNIPPET_CHARS = 200
BOOSTS = {"title": 3.0, "tags": 2.0}
TEXT_FIELDS = ("title", "tags", "body", "product")


@dataclass(frozen=True)
class Hit:
    article_id: str
    score: float
    highlight: str


def _schema() -> Any:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("product", stored=False, tokenizer_name="raw")
    builder.add_text_field("title", stored=False, tokenizer_name="en_stem")
    builder.add_text_field("tags", stored=False, tokenizer_name="en_stem")
    builder.add_text_field("body", stored=True, tokenizer_name="en_stem")
    return builder.build()


def product_key(product: str) -> str:
    return " ".join(product.lower().split())


class KnowledgeIndex:
    def __init__(self) -> None:
        self._schema = _schema()
        self._index = tantivy.Index(self._schema)
        self._writer = self._index.writer(heap_size=15_000_000, num_threads=1)
        self._lock = threading.Lock()
        self._articles: dict[str, dict[str, Any]] = {}  # id -> the article as last indexed (no votes)
        self.size = 0

    def article(self, article_id: str) -> dict[str, Any] | None:
        return self._articles.get(article_id)

    def _document(self, article: dict[str, Any]) -> Any:
        return tantivy.Document(
            id=article["_id"],
            product=product_key(article.get("product") or ""),
            title=article["title"],
            tags=list(article.get("tags") or []),
            body=article["body"],
        )

    def put(self, articles: Iterable[dict[str, Any]]) -> int:
        """Add or replace these articles (one commit for all); only changed text is re-indexed."""
        count = 0
        with self._lock:
            for article in articles:
                kept = {k: v for k, v in article.items() if k != "votes"}
                before = self._articles.get(article["_id"])
                self._articles[article["_id"]] = kept
                if before is not None and all(before.get(k) == kept.get(k) for k in TEXT_FIELDS):
                    continue
                self._writer.delete_documents_by_term("id", article["_id"])
                self._writer.add_document(self._document(article))
                count += 1
            if count:
                self._writer.commit()
                self._index.reload()
                self.size = self._index.searcher().num_docs
        return count

    def search(self, text: str, product: str = "", limit: int = 10) -> list[Hit]:
        words = [w.lower() for w in WORD.findall(text)][:MAX_QUERY_WORDS]
        if not words or limit <= 0:
            return []
        searcher = self._index.searcher()
        parsed = self._index.parse_query(" ".join(words), ["title", "tags", "body"], field_boosts=BOOSTS)
        clauses = [(tantivy.Occur.Should, parsed)]
        last = words[-1]
        if len(last) >= 3 and text == text.rstrip():  # still being typed: also a prefix of a title word
            prefix = tantivy.Query.regex_query(self._schema, "title", re.escape(last) + ".*")
            clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(prefix, 1.5)))
        query = tantivy.Query.boolean_query(clauses)
        if product.strip():
            term = tantivy.Query.term_query(self._schema, "product", product_key(product))
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, term)])
        result = searcher.search(query, limit)
        snippets = tantivy.SnippetGenerator.create(searcher, parsed, self._schema, "body")
        snippets.set_max_num_chars(SNIPPET_CHARS)
        hits = []
        for score, address in result.hits:
            document = searcher.doc(address)
            highlight = snippets.snippet_from_doc(document).to_html()
            if not highlight:
                body = document.to_dict()["body"][0]
                highlight = html.escape(body[:SNIPPET_CHARS].rsplit(" ", 1)[0] if len(body) > SNIPPET_CHARS else body)
            hits.append(Hit(document.to_dict()["id"][0], float(score), highlight))
        return hits
