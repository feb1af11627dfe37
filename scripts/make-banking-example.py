#!/usr/bin/env python3
"""Builds the banking cascade example's datasets from banking77 (CC BY 4.0, PolyAI; see
examples/banking-cascade/README.md): eight intents, 20 golden cases each from the test set,
and an unlabelled pool of up to 60 training texts each (texts also in the test set left out).

Usage: scripts/make-banking-example.py [DATA_DIR]   (default: ../shared/data)
"""
import json
import os
import sys

INTENTS = [
    "card_arrival",
    "lost_or_stolen_card",
    "exchange_rate",
    "top_up_failed",
    "pin_blocked",
    "cash_withdrawal_charge",
    "terminate_account",
    "apple_pay_or_google_pay",
]
GOLDEN_PER_INTENT = 20
POOL_PER_INTENT = 60

data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../shared/data")
out = os.path.join(os.path.dirname(__file__), "../examples/banking-cascade/golden")


def rows(name):
    with open(os.path.join(data, name), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


test, train = rows("banking77_test.jsonl"), rows("banking77_train.jsonl")
golden = []
for intent in INTENTS:
    golden += [r for r in test if r["label"] == intent][:GOLDEN_PER_INTENT]
seen = {r["text"].strip().lower() for r in test}
by_intent = []
for intent in INTENTS:
    fresh = [r for r in train if r["label"] == intent and r["text"].strip().lower() not in seen]
    by_intent.append(fresh[:POOL_PER_INTENT])
# Round-robin over the intents, so that any prefix of the pool is a mix.
pool = [r for group in zip(*by_intent) for r in group]

os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "banking.jsonl"), "w", encoding="utf-8") as f:
    for r in golden:
        f.write(json.dumps({"id": r["id"], "vars": {"text": r["text"]}, "expected": {"intent": r["label"]},
                            "source": {"kind": "banking77", "split": "test"}}, ensure_ascii=False) + "\n")
with open(os.path.join(out, "banking_pool.jsonl"), "w", encoding="utf-8") as f:
    for r in pool:
        # Unlabelled on purpose: the labeller model gives the proxy its training labels.
        f.write(json.dumps({"id": r["id"], "vars": {"text": r["text"]},
                            "source": {"kind": "banking77", "split": "train"}}, ensure_ascii=False) + "\n")
print(f"{len(golden)} golden cases, {len(pool)} pool inputs")
