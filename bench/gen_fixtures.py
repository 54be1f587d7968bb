#!/usr/bin/env python3
"""Writes N synthetic dossiers for the DS mock, as one fixture file holding a JSON array of DS
response bodies ({"data":{"dossier":{...}}}), the shape the mock loads with --fixtures DIR.

Usage: gen_fixtures.py OUT_DIR [N] [FIRST_NUMBER]
Deterministic: the same arguments always give the same file.
"""
import base64
import json
import os
import sys

STATES = ["en_construction", "en_instruction", "accepte", "refuse", "sans_suite"]
DEMARCHES = [(9101, "Aide à l'équipement numérique des associations"),
             (9102, "Demande d'autorisation de manifestation"),
             (9103, "Subvention de fonctionnement 2026")]


def gid(kind, number):
    return base64.b64encode(f"{kind}-{number}".encode()).decode()


def dossier(number, i):
    state = STATES[i % len(STATES)]
    day = 1 + i % 28
    depot = f"2026-02-{day:02d}T10:{i % 60:02d}:00+01:00"
    processed = state in ("accepte", "refuse", "sans_suite")
    demarche_number, title = DEMARCHES[i % len(DEMARCHES)]
    return {"data": {"dossier": {
        "id": gid("Dossier", number),
        "number": number,
        "state": state,
        "archived": False,
        "dateDepot": depot,
        "datePassageEnConstruction": depot,
        "datePassageEnInstruction": depot if state != "en_construction" else None,
        "dateTraitement": depot if processed else None,
        "dateDerniereModification": depot,
        "dateExpiration": None,
        "dateSuppressionParUsager": None,
        "dateSuppressionParAdministration": None,
        "motivation": None,
        "usager": {"id": gid("User", 800000 + i), "email": f"usager{i}@example.org"},
        "demarche": {"id": gid("Procedure", demarche_number), "number": demarche_number,
                     "title": title},
        "messages": [{
            "id": gid("Commentaire", 600000 + i),
            "email": "contact@demarches-simplifiees.fr",
            "body": f"[Votre dossier nº {number} a bien été déposé]<br><br>Bonjour,",
            "createdAt": depot,
        }],
    }}}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    first = int(sys.argv[3]) if len(sys.argv) > 3 else 3000001
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "bench-dossiers.json"), "w", encoding="utf-8") as f:
        json.dump([dossier(first + i, i) for i in range(n)], f, ensure_ascii=False)


if __name__ == "__main__":
    main()
