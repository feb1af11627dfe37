#!/usr/bin/env python3
"""Writes examples/feedback/events.jsonl: a few hundred production events of the example's
support_features prompt with a known structure, for `evalgate feedback triage` and its tests.

- 120 conversations about CSV export encoding: good retrieval, about 8% thumbs down.
- 80 about SSO / SAML login: weak retrieval (best chunk 0.15-0.45) on most, about 60% bad
  (thumbs down, a user edit with the corrected labels, retries).
- 100 about double charges and refunds: about 15% bad, some truncated answers.
- 2 conversations copied from golden/support.jsonl, flagged bad: already golden cases.
Deterministic (seeded): run it again and the file is the same.
"""
import json
import random

rng = random.Random(20261123)
names = ["Ana", "Bo", "Chen", "Dmitri", "Eva", "Farid", "Greta", "Hiro", "Ines", "Jon"]
companies = ["Müller GmbH", "Acme Ltd", "Northwind", "Globex", "Initech", "Umbrella Co"]

def export_text():
    c = rng.choice(companies)
    return rng.choice([
        f"Customer: When I export my client list to CSV the accents are broken, '{c}' shows garbage in Excel.",
        f"Customer: CSV export mangles special characters: {c} becomes unreadable after export.",
        f"Customer: The exported CSV file has broken accents and umlauts for {c}. Excel encoding issue?",
        f"Customer: Exporting invoices to CSV garbles names with accents like {c}, please fix the export encoding.",
    ]) + "\nAgent: " + rng.choice(["Use Data > From Text and pick UTF-8.", "We are looking into the export encoding.", "Try the XLSX export instead."])

def sso_text():
    idp = rng.choice(["Okta", "Azure AD", "Google Workspace", "OneLogin"])
    return rng.choice([
        f"Customer: SSO login fails with our {idp} SAML setup, users get an assertion error.",
        f"Customer: Since yesterday SAML single sign-on through {idp} rejects everyone, login is blocked.",
        f"Customer: Our team cannot log in with SSO; {idp} says the SAML response signature is invalid.",
        f"Customer: Single sign-on via {idp} loops back to the login page, SAML assertion expired.",
    ]) + "\nAgent: " + rng.choice(["Escalating to the identity team.", "Can you send the SAML trace?", "We see errors on our side too."])

def refund_text():
    amount = rng.choice([19, 29, 49, 99, 199])
    return rng.choice([
        f"Customer: I was charged twice, ${amount} on the 3rd and again on the 4th. I want a refund.",
        f"Customer: Double charge of ${amount} on my card this month, please refund the duplicate.",
        f"Customer: Your billing charged my card two times for ${amount}. Refund the second charge.",
        f"Customer: Refund request: duplicate ${amount} charge on the invoice after the plan renewal.",
    ]) + "\nAgent: " + rng.choice(["I have flagged the duplicate charge for a refund.", "The refund will arrive in 5 days.", "Escalating to billing."])

labels = {
    "export": {"intent": "bug", "sentiment": "negative", "escalation_risk": 3},
    "sso": {"intent": "bug", "sentiment": "negative", "escalation_risk": 5},
    "refund": {"intent": "billing", "sentiment": "negative", "escalation_risk": 4},
}
wrong = {"intent": "other", "sentiment": "neutral", "escalation_risk": 1, "summary": "The customer has a question."}

events = []
t = 0
def stamp():
    global t
    t += 1
    day = 10 + t // 40
    return f"2026-11-{day:02d}T{(t * 7) % 24:02d}:{(t * 13) % 60:02d}:00Z"

def interaction(n, topic, text, scores, bad):
    out = wrong if bad else dict(labels[topic], summary="A customer reports a problem.")
    ev = {
        "type": "interaction", "event_id": f"int-{n:04d}", "timestamp": stamp(),
        "prompt": "support_features", "prompt_version": "8245395e" if n % 3 else "b4108449",
        "model": "smollm2", "params": {"temperature": 0},
        "vars": {"transcript": text},
        "context": [{"id": f"kb-{topic}-{i}", "text": f"Help article about {topic}.", "score": s} for i, s in enumerate(scores)],
        "output": json.dumps(out), "latency_ms": rng.randint(600, 4000),
        "tokens": {"input": rng.randint(180, 320), "output": rng.randint(30, 60)},
        "tags": [topic, rng.choice(["web", "mobile"])],
    }
    events.append(ev)
    return ev

def signal(n, k, iid, kind, name, **extra):
    ev = {"type": "signal", "event_id": f"sig-{n:04d}-{k}", "interaction_id": iid, "timestamp": stamp(), "kind": kind, "name": name}
    ev.update(extra)
    events.append(ev)

n = 0
plan = [("export", export_text, 120, 0.08), ("sso", sso_text, 80, 0.6), ("refund", refund_text, 100, 0.15)]
items = [(topic, gen, bad_rate) for topic, gen, count, bad_rate in plan for _ in range(count)]
rng.shuffle(items)
for topic, gen, bad_rate in items:
    n += 1
    low = topic == "sso" and rng.random() < 0.85
    scores = [round(rng.uniform(0.15, 0.45), 2) for _ in range(2)] if low else [round(rng.uniform(0.6, 0.95), 2) for _ in range(2)]
    bad = rng.random() < bad_rate
    ev = interaction(n, topic, gen(), scores, bad)
    iid = ev["event_id"]
    if low:
        signal(n, 0, iid, "operational", "low_retrieval_score", value=max(scores))
    if bad:
        r = rng.random()
        if r < 0.4:
            signal(n, 1, iid, "explicit", "thumbs_down")
        elif r < 0.7:
            fixed = dict(labels[topic], summary="Corrected by the user.")
            signal(n, 1, iid, "explicit", "user_edit", edited_output=json.dumps(fixed))
        else:
            signal(n, 1, iid, "implicit", "retry")
        if topic == "refund" and rng.random() < 0.5:
            signal(n, 2, iid, "operational", "truncation")
    elif rng.random() < 0.3:
        signal(n, 1, iid, "implicit", rng.choice(["copy", "accept"]))

# Two conversations that are golden cases already, flagged bad.
with open("golden/support.jsonl") as f:
    golden = [json.loads(l) for l in f if l.strip()][:2]
for g in golden:
    n += 1
    ev = interaction(n, "refund", g["vars"]["transcript"], [0.7], True)
    signal(n, 1, ev["event_id"], "explicit", "thumbs_down")

with open("examples/feedback/events.jsonl", "w") as f:
    for e in events:
        f.write(json.dumps(e, ensure_ascii=False) + "\n")
print(f"{len(events)} events ({n} interactions)")
