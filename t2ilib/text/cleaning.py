"""Caption cleaning exactly as the GloVe "VAE" report did it (docs/reference.md#glove-vae).

`clean_caption` runs six steps, in this order:

1. drop URLs (`http://...`, `https://...`, `www....`);
2. expand contractions: won't -> will not, can't -> can not, n't -> " not", 're -> " are",
   's -> " is", 'd -> " would", 'll -> " will", 't -> " not", 've -> " have", 'm -> " am"
   (so "dog's" becomes "dog is": the rule cannot tell a possessive from "is");
3. drop every whitespace-separated token that contains a digit ("2", "10th", "mp3");
4. every character that is not a letter A-Z / a-z becomes a space;
5. drop NLTK's 179 English stopwords and "br" (an HTML line-break left in some captions);
6. lowercase.

Case and stopwords. The report lowercases last, but NLTK's list is lowercase, so a literal
`word not in stopwords` test would keep "A" and "The" at the start of a caption and then
lowercase them into stopwords. We follow the usual form of this recipe, which compares
`word.lower()` with the list: stopword removal ignores case (`match_case=False`, the default).
Pass `match_case=True` for the literal reading. Contractions are matched ignoring case too
("Won't" -> "will not"); a typographic apostrophe (U+2019) counts as "'".

`english_stopwords()` returns NLTK's list when its corpus is installed and otherwise the same
179 words written out below (NLTK 3.x `stopwords.words("english")` before the 2024 data update,
which is the list the report used); NLTK data cannot be downloaded offline.
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger("t2ilib")

# NLTK 3.x English stopwords, in NLTK's order (179 words).
NLTK_ENGLISH_STOPWORDS = (
    "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "you're", "you've", "you'll",
    "you'd", "your", "yours", "yourself", "yourselves", "he", "him", "his", "himself", "she", "she's",
    "her", "hers", "herself", "it", "it's", "its", "itself", "they", "them", "their", "theirs",
    "themselves", "what", "which", "who", "whom", "this", "that", "that'll", "these", "those", "am",
    "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does",
    "did", "doing", "a", "an", "the", "and", "but", "if", "or", "because", "as", "until", "while",
    "of", "at", "by", "for", "with", "about", "against", "between", "into", "through", "during",
    "before", "after", "above", "below", "to", "from", "up", "down", "in", "out", "on", "off", "over",
    "under", "again", "further", "then", "once", "here", "there", "when", "where", "why", "how",
    "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not",
    "only", "own", "same", "so", "than", "too", "very", "s", "t", "can", "will", "just", "don",
    "don't", "should", "should've", "now", "d", "ll", "m", "o", "re", "ve", "y", "ain", "aren",
    "aren't", "couldn", "couldn't", "didn", "didn't", "doesn", "doesn't", "hadn", "hadn't", "hasn",
    "hasn't", "haven", "haven't", "isn", "isn't", "ma", "mightn", "mightn't", "mustn", "mustn't",
    "needn", "needn't", "shan", "shan't", "shouldn", "shouldn't", "wasn", "wasn't", "weren",
    "weren't", "won", "won't", "wouldn", "wouldn't",
)

EXTRA_STOPWORDS = ("br",)  # the report also dropped "br"

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# (pattern, replacement) in the report's order: the specific forms before the general ones.
_CONTRACTIONS = tuple((re.compile(pattern, re.IGNORECASE), replacement) for pattern, replacement in (
    (r"won't", "will not"),
    (r"can't", "can not"),
    (r"n't", " not"),
    (r"'re", " are"),
    (r"'s", " is"),
    (r"'d", " would"),
    (r"'ll", " will"),
    (r"'t", " not"),
    (r"'ve", " have"),
    (r"'m", " am"),
))
_HAS_DIGIT = re.compile(r"\S*\d\S*")
_NOT_LETTER = re.compile(r"[^A-Za-z]+")

_stopwords_cache: frozenset | None = None


def english_stopwords() -> list[str]:
    """NLTK's English stopwords; the built-in copy (same 179 words) when the corpus is missing."""
    try:
        from nltk.corpus import stopwords

        return list(stopwords.words("english"))
    except (LookupError, ImportError, OSError):
        logger.warning("NLTK's 'stopwords' corpus is not installed (nltk.download('stopwords') needs the "
                       "internet); using t2ilib's built-in copy of NLTK's 179 English stopwords.")
        return list(NLTK_ENGLISH_STOPWORDS)


def _stopword_set() -> frozenset:
    global _stopwords_cache
    if _stopwords_cache is None:  # looked up once per process, so the notice is logged once
        _stopwords_cache = frozenset(english_stopwords()) | frozenset(EXTRA_STOPWORDS)
    return _stopwords_cache


def clean_caption(text: str, match_case: bool = False) -> str:
    """Clean one caption the report's way (module docstring): 'A dog's 2 toys!' -> 'dog toys'."""
    if not isinstance(text, str):
        raise ValueError(f"clean_caption expects a string, got {type(text).__name__}.")
    text = _URL.sub("", text)  # 1. URLs
    text = text.replace("\u2019", "'")
    for pattern, replacement in _CONTRACTIONS:  # 2. contractions
        text = pattern.sub(replacement, text)
    text = _HAS_DIGIT.sub("", text)  # 3. tokens with a digit
    text = _NOT_LETTER.sub(" ", text)  # 4. non-letters -> space
    stopwords = _stopword_set()  # 5. stopwords and "br"
    words = [word for word in text.split() if (word if match_case else word.lower()) not in stopwords]
    return " ".join(words).lower()  # 6. lowercase


def clean_captions(captions) -> list[str]:
    """`clean_caption` on every caption of a list."""
    return [clean_caption(caption) for caption in captions]
