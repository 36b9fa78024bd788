# Nos crochets Helm (défi 15), lancés par l'image du back (son Python, rien à installer).
#   crochet.py preparer   avant install/upgrade: note la révision en cours dans la ConfigMap garagiste-deploiement
#   crochet.py verifier   après install/upgrade: relit garagiste-env (ce que Django lit) et note le résultat
# Parle à l'API de Kubernetes avec le jeton du ServiceAccount garagiste-crochets (templates/crochets.yaml).
import datetime
import json
import os
import ssl
import sys
import urllib.error
import urllib.request

COMPTE = "/var/run/secrets/kubernetes.io/serviceaccount"
with open(f"{COMPTE}/namespace") as fichier:
    NS = fichier.read().strip()
SUIVI = "garagiste-deploiement"


def appel(methode, chemin, corps=None):
    hote = os.environ["KUBERNETES_SERVICE_HOST"]
    url = f"https://{hote}:{os.environ['KUBERNETES_SERVICE_PORT']}/api/v1/namespaces/{NS}/configmaps{chemin}"
    with open(f"{COMPTE}/token") as fichier:
        jeton = fichier.read().strip()
    entetes = {"Authorization": f"Bearer {jeton}", "Content-Type": "application/merge-patch+json"}
    if methode == "POST":
        entetes["Content-Type"] = "application/json"
    donnees = None if corps is None else json.dumps(corps).encode()
    requete = urllib.request.Request(url, data=donnees, method=methode, headers=entetes)
    contexte = ssl.create_default_context(cafile=f"{COMPTE}/ca.crt")
    try:
        with urllib.request.urlopen(requete, context=contexte, timeout=15) as reponse:
            return reponse.status, json.loads(reponse.read() or b"{}")
    except urllib.error.HTTPError as erreur:
        return erreur.code, json.loads(erreur.read() or b"{}")


def noter(etat):
    data = {"revision": os.environ["REVISION"], "etat": etat, "date": datetime.datetime.now(datetime.UTC).isoformat()}
    code, _ = appel("PATCH", f"/{SUIVI}", {"data": data})
    if code == 404:
        code, _ = appel(
            "POST",
            "",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": SUIVI, "labels": {"app": "garagiste"}},
                "data": data,
            },
        )
    if code not in (200, 201):
        sys.exit(f"impossible d'écrire {SUIVI}: HTTP {code}")
    print(f"{SUIVI}: {data}")


if sys.argv[1] == "preparer":
    noter("en cours")
else:
    code, env = appel("GET", "/garagiste-env")
    if code != 200:
        sys.exit(f"garagiste-env illisible: HTTP {code}")
    manque = [k for k in ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER") if not env.get("data", {}).get(k)]
    if manque:
        sys.exit(f"garagiste-env: il manque {manque}")
    if env["data"].get("DEBUG") != "False":
        sys.exit("garagiste-env: DEBUG doit être False en production")
    noter("verifie")
