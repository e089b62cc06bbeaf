"""The seed's stack for courier ranking, the baseline ARAS's ranking path is compared with:
FastAPI + Pydantic (validation) + NumPy (math), the same rules as docs/ranking.md (true ellipse,
AHP principal eigenvector with its consistency ratio, TOPSIS), the same request and response
JSON. Run it as the seed would, under uvicorn with 2 workers:

  uvicorn ranking_reference:app --workers 2 --port 8105 --no-access-log --app-dir scripts/bench
"""
import time
from datetime import datetime, timezone
from typing import Literal, Optional

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

EARTH_RADIUS_KM = 6371.0
TOLERANCE_KM = {"standard": 10.0, "express": 5.0, "sameday": 3.0}
UPPER = {"standard": (2, 3, 4, 2, 3, 2), "express": (3, 4, 5, 2, 3, 2), "sameday": (4, 5, 6, 2, 3, 2)}
RANDOM_INDEX = [0, 0, 0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49, 1.51, 1.48, 1.56, 1.57, 1.59]
VEHICLE_SCORE = {"velo": 0.1, "moto": 0.3, "voiture": 0.8, "camionnette": 0.9, "camion": 1.0}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Point(Strict):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class Announcement(Strict):
    annonce_id: str
    type_livraison: Literal["standard", "express", "sameday"]
    point_ramassage: Point
    point_livraison: Point
    poids_colis_kg: Optional[float] = Field(default=None, gt=0)
    volume_colis_m3: Optional[float] = Field(default=None, gt=0)


class Candidate(Strict):
    livreur_id: str = Field(min_length=1)
    position_actuelle: Point
    reputation: float = Field(ge=0, le=10)
    capacite_max_kg: float = Field(gt=0)
    capacite_volume_m3: Optional[float] = Field(default=None, gt=0)
    type_vehicule: Literal["velo", "moto", "voiture", "camionnette", "camion"]


class Options(Strict):
    tolerance_spatiale_km: Optional[float] = Field(default=None, gt=0)
    top_k: Optional[int] = Field(default=None, ge=1)
    include_details: bool = False


class RankRequest(Strict):
    annonce: Announcement
    livreurs_candidats: list[Candidate] = Field(min_length=1)
    options: Options = Options()


def haversine(lat1, lon1, lat2, lon2):
    lat1, lon1, lat2, lon2 = map(np.radians, (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def ahp(kind):
    a12, a13, a14, a23, a24, a34 = UPPER[kind]
    m = np.array([[1, a12, a13, a14], [1 / a12, 1, a23, a24], [1 / a13, 1 / a23, 1, a34], [1 / a14, 1 / a24, 1 / a34, 1]], float)
    values, vectors = np.linalg.eig(m)
    principal = np.argmax(values.real)
    weights = np.abs(vectors[:, principal].real)
    weights /= weights.sum()
    lambda_max = float((m @ weights / weights).mean())
    ci = (lambda_max - 4) / 3
    cr = ci / RANDOM_INDEX[4]
    return weights, lambda_max, ci, cr


app = FastAPI()


@app.post("/api/v1/livreurs/rank")
def rank(request: RankRequest):
    started = time.perf_counter()
    a = request.annonce
    tolerance = request.options.tolerance_spatiale_km or TOLERANCE_KM[a.type_livraison]
    couriers = request.livreurs_candidats
    lat = np.array([c.position_actuelle.latitude for c in couriers])
    lon = np.array([c.position_actuelle.longitude for c in couriers])
    f1, f2 = a.point_ramassage, a.point_livraison
    to_pickup = haversine(lat, lon, f1.latitude, f1.longitude)
    to_dropoff = haversine(lat, lon, f2.latitude, f2.longitude)
    direct = haversine(f1.latitude, f1.longitude, f2.latitude, f2.longitude)
    in_zone = to_pickup + to_dropoff <= direct + 2 * tolerance
    capacity = np.array([c.capacite_max_kg for c in couriers])
    big_enough = capacity >= (a.poids_colis_kg or 0)
    if a.volume_colis_m3:
        big_enough &= np.array([c.capacite_volume_m3 is None or c.capacite_volume_m3 >= a.volume_colis_m3 for c in couriers])
    eligible = np.flatnonzero(in_zone & big_enough)
    weights, lambda_max, ci, cr = ahp(a.type_livraison)
    ranked = []
    if len(eligible):
        x = np.column_stack([
            to_pickup[eligible], capacity[eligible],
            [VEHICLE_SCORE[couriers[i].type_vehicule] for i in eligible],
            [couriers[i].reputation for i in eligible],
        ])
        norms = np.linalg.norm(x, axis=0)
        v = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0) * weights
        benefit = np.array([False, True, True, True])
        ideal = np.where(benefit, v.max(axis=0), v.min(axis=0))
        anti = np.where(benefit, v.min(axis=0), v.max(axis=0))
        d_plus = np.linalg.norm(v - ideal, axis=1)
        d_minus = np.linalg.norm(v - anti, axis=1)
        total = d_plus + d_minus
        closeness = np.divide(d_minus, total, out=np.ones_like(total), where=total > 0)
        order = sorted(range(len(eligible)), key=lambda k: (-round(closeness[k], 12), to_pickup[eligible[k]], eligible[k]))
        top_k = request.options.top_k or len(order)
        ranked = [{"rang": r + 1, "livreur_id": couriers[eligible[k]].livreur_id, "score_final": round(float(closeness[k]), 4)}
                  for r, k in enumerate(order[:top_k])]
    return {
        "status": "success",
        "annonce_id": a.annonce_id,
        "timestamp": datetime.now(timezone.utc).isoformat(),
        "livreurs_classes": ranked,
        "metadata": {
            "type_livraison": a.type_livraison,
            "tolerance_spatiale_km": tolerance,
            "statistiques_filtrage": {
                "total_candidats": len(couriers),
                "candidats_eligibles": int(len(eligible)),
                "candidats_rejetes": len(couriers) - int(len(eligible)),
                "rejetes_hors_zone": int((~in_zone).sum()),
                "rejetes_capacite": int((in_zone & ~big_enough).sum()),
            },
            "poids_ahp": {
                "proximite_geographique": round(float(weights[0]), 3), "capacite": round(float(weights[1]), 3),
                "type_vehicule": round(float(weights[2]), 3), "reputation": round(float(weights[3]), 3),
                "lambda_max": round(lambda_max, 3), "CI": round(ci, 3), "CR": round(cr, 3), "est_coherent": cr < 0.1,
            },
            "duree_traitement_ms": round((time.perf_counter() - started) * 1e3, 2),
        },
    }
