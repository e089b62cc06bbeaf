// The ARAS console: three tabs over the public API (/api/v1), no framework, no build step.
// Everything the API returns is put in the page with textContent, never parsed as HTML.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const CREDENTIAL_KEY = "aras.console.credential";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const EARTH_RADIUS_KM = 6371.0;

  // ------------------------------------------------------------------ helpers

  /** An element with attributes (`class`, `text`, `data-*`, anything else) and children. */
  function el(tag, attrs = {}, ...children) {
    return build(document.createElement(tag), attrs, children);
  }
  function svg(tag, attrs = {}, ...children) {
    return build(document.createElementNS(SVG_NS, tag), attrs, children);
  }
  function build(node, attrs, children) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const number = (value, digits = 2) =>
    Number(value).toLocaleString("fr-FR", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const percent = (value, digits = 1) => `${number(value * 100, digits)} %`;
  const km = (value) => `${number(value, 2)} km`;
  const ms = (value) => `${number(value, value < 10 ? 1 : 0)} ms`;

  /** A horizontal bar row: label, bar filled to `share` (0..1), and the shown value. */
  function barRow(label, share, shown, testid) {
    const fill = el("span");
    fill.style.width = `${Math.max(0, Math.min(1, share)) * 100}%`;
    return el(
      "div",
      { class: "bar-row", "data-testid": testid },
      el("span", { text: label }),
      el("div", { class: "bar" }, fill),
      el("span", { class: "num", text: shown }),
    );
  }

  function facts(target, pairs) {
    target.replaceChildren(
      ...pairs.flatMap(([term, value]) => [el("dt", { text: term }), el("dd", {}, value)]),
    );
  }

  function badge(text, tone) {
    return el("span", { class: `badge ${tone || ""}`.trim(), text });
  }

  // ------------------------------------------------------------------ API

  /** An API failure: the problem+json body when there is one. */
  class ApiProblem extends Error {
    constructor(status, problem, correlationId) {
      const title = (problem && problem.title) || (status ? `HTTP ${status}` : "Réseau");
      super(`${title}: ${(problem && problem.detail) || ""}`);
      this.status = status;
      this.title = title;
      this.detail = (problem && problem.detail) || "";
      this.instance = (problem && problem.instance) || correlationId || "";
    }
  }

  function credentialHeaders() {
    const credential = sessionStorage.getItem(CREDENTIAL_KEY);
    if (!credential) return {};
    // API keys are `aras_…`; anything else is taken for an access token.
    return credential.startsWith("aras_")
      ? { "X-API-Key": credential }
      : { Authorization: `Bearer ${credential}` };
  }

  /** Calls the API; resolves to {data, elapsed, correlationId}, or rejects with an ApiProblem. */
  async function api(method, path, body) {
    const headers = { Accept: "application/json", ...credentialHeaders() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const started = performance.now();
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new ApiProblem(0, { title: "Réseau", detail: `la passerelle ne répond pas (${error.message})` });
    }
    const text = await response.text();
    const elapsed = performance.now() - started;
    const correlationId = response.headers.get("x-correlation-id") || "";
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      throw new ApiProblem(response.status, data || { detail: text.slice(0, 300) }, correlationId);
    }
    return { data, elapsed, correlationId };
  }

  function showError(box, error) {
    if (!error) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    const problem = error instanceof ApiProblem ? error : new ApiProblem(0, { title: "Erreur", detail: error.message });
    box.replaceChildren(
      el("strong", { text: problem.status ? `${problem.title} (${problem.status})` : problem.title }),
      el("span", { text: problem.detail }),
      problem.instance ? el("div", { class: "instance", text: `Corrélation : ${problem.instance}` }) : null,
    );
    box.hidden = false;
  }

  /** Runs `work` with `button` disabled; errors land in `errorBox`, never escape. */
  async function busy(button, errorBox, work) {
    const label = button.textContent;
    button.disabled = true;
    button.textContent = "…";
    showError(errorBox, null);
    try {
      await work();
    } catch (error) {
      showError(errorBox, error);
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  }

  // ------------------------------------------------------------------ credential

  function showCredentialState() {
    const credential = sessionStorage.getItem(CREDENTIAL_KEY);
    $("credential-state").textContent = !credential
      ? "Aucune : en développement, l'API répond en admin de démonstration."
      : credential.startsWith("aras_")
        ? "Clé d'API utilisée."
        : "Jeton d'accès utilisé.";
  }

  function initCredential() {
    $("credential").value = sessionStorage.getItem(CREDENTIAL_KEY) || "";
    showCredentialState();
    $("credential-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("credential").value.trim();
      if (value) sessionStorage.setItem(CREDENTIAL_KEY, value);
      else sessionStorage.removeItem(CREDENTIAL_KEY);
      credentialChanged();
    });
    $("credential-clear").addEventListener("click", () => {
      $("credential").value = "";
      sessionStorage.removeItem(CREDENTIAL_KEY);
      credentialChanged();
    });
  }

  function credentialChanged() {
    showCredentialState();
    loadVehicles(true);
    if (!$("panel-status").hidden) refreshStatus();
  }

  // ------------------------------------------------------------------ tabs

  const TABS = ["reco", "dispatch", "status"];
  let statusLoaded = false;

  function selectTab(name, focus = false) {
    for (const tab of TABS) {
      const selected = tab === name;
      const button = $(`tab-${tab}`);
      button.setAttribute("aria-selected", String(selected));
      button.tabIndex = selected ? 0 : -1;
      $(`panel-${tab}`).hidden = !selected;
      if (selected && focus) button.focus();
    }
    if (window.location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
    if (name === "status" && !statusLoaded) {
      statusLoaded = true;
      refreshStatus();
    }
  }

  function initTabs() {
    for (const tab of TABS) {
      $(`tab-${tab}`).addEventListener("click", () => selectTab(tab));
      $(`tab-${tab}`).addEventListener("keydown", (event) => {
        const index = TABS.indexOf(tab);
        const next = {
          ArrowRight: TABS[(index + 1) % TABS.length],
          ArrowLeft: TABS[(index + TABS.length - 1) % TABS.length],
          Home: TABS[0],
          End: TABS[TABS.length - 1],
        }[event.key];
        if (next) {
          event.preventDefault();
          selectTab(next, true);
        }
      });
    }
    const initial = window.location.hash.slice(1);
    selectTab(TABS.includes(initial) ? initial : "reco");
  }

  // ------------------------------------------------------------------ recommendation

  let vehicleCursor = null;
  let vehicleCount = 0;

  function vehicleSummary(v) {
    return `#${v.id} — ${v.nom} · ${v.type} · ${v.ville} · ${number(v.prix, 0)} €/j${v.disponible ? "" : " · indisponible"}`;
  }

  /** Fills the vehicle list from GET /api/v1/vehicles (a page at a time; `reset` starts over). */
  async function loadVehicles(reset) {
    const select = $("reco-vehicle-select");
    const state = $("reco-vehicles-state");
    if (reset) {
      vehicleCursor = null;
      vehicleCount = 0;
      select.replaceChildren();
    }
    const params = new URLSearchParams({ limit: "50" });
    const q = $("reco-search").value.trim();
    if (q) params.set("q", q);
    if (vehicleCursor) params.set("cursor", vehicleCursor);
    state.textContent = "Chargement du catalogue…";
    try {
      const { data } = await api("GET", `/api/v1/vehicles?${params}`);
      for (const vehicle of data.items) {
        select.append(el("option", { value: vehicle.id, text: vehicleSummary(vehicle) }));
      }
      vehicleCount += data.items.length;
      vehicleCursor = data.next_cursor;
      state.textContent = vehicleCount
        ? `${vehicleCount} véhicule${vehicleCount > 1 ? "s" : ""} affiché${vehicleCount > 1 ? "s" : ""}${vehicleCursor ? ", d'autres suivent" : ""}.`
        : "Aucun véhicule ne correspond.";
      $("reco-vehicles-more").hidden = !vehicleCursor;
      syncSelectFromId();
    } catch (error) {
      const problem = error instanceof ApiProblem ? error : null;
      state.textContent = `Catalogue indisponible : ${problem ? `${problem.title} (${problem.status}) ${problem.detail}` : error.message}. Saisissez un identifiant.`;
      $("reco-vehicles-more").hidden = true;
    }
  }

  function syncSelectFromId() {
    const select = $("reco-vehicle-select");
    const id = $("reco-product").value;
    const option = Array.from(select.options).find((o) => o.value === id);
    select.value = option ? id : "";
  }

  function initRecommendation() {
    $("reco-vehicle-select").addEventListener("change", (event) => {
      $("reco-product").value = event.target.value;
    });
    $("reco-product").addEventListener("input", syncSelectFromId);
    $("reco-vehicles-more").addEventListener("click", () => loadVehicles(false));
    $("reco-search-button").addEventListener("click", () => loadVehicles(true));
    $("reco-search").addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        loadVehicles(true);
      }
    });
    $("reco-form").addEventListener("submit", (event) => {
      event.preventDefault();
      busy($("reco-submit"), $("reco-error"), recommend);
    });
    loadVehicles(true);
  }

  function integerField(id, label) {
    const raw = $(id).value.trim();
    const value = Number(raw);
    if (raw === "" || !Number.isInteger(value)) throw new Error(`${label} : un entier est attendu`);
    return value;
  }

  async function recommend() {
    const productId = integerField("reco-product", "Identifiant du véhicule");
    const body = {
      product_id: productId,
      client_id: integerField("reco-client", "Identifiant du client"),
      commentaire: $("reco-review").value,
    };
    if ($("reco-topk").value.trim()) body.top_k = integerField("reco-topk", "Nombre de propositions");
    if ($("reco-weights-custom").checked) {
      body.weights = {
        similarity: Number($("reco-w-similarity").value),
        availability: Number($("reco-w-availability").value),
        reputation: Number($("reco-w-reputation").value),
      };
    }
    // The sentiment detail and the reviewed vehicle only enrich the answer: their failures
    // are shown beside it, they never hide it.
    const analysis = $("reco-analyze").checked
      ? api("POST", "/api/v1/sentiment/analyze", { commentaire: body.commentaire }).catch((e) => e)
      : Promise.resolve(null);
    const reviewed = api("GET", `/api/v1/vehicles/${productId}`).catch((e) => e);
    const [answer, sentiment, vehicle] = await Promise.all([
      api("POST", "/api/v1/recommendations", body),
      analysis,
      reviewed,
    ]);
    renderRecommendation(answer, sentiment, vehicle instanceof Error ? null : vehicle.data);
  }

  const SENTIMENT_LABELS = { positive: "positif", negative: "négatif", neutral: "neutre" };

  function renderSentiment(score, label, analysis) {
    const marker = $("sentiment-marker");
    marker.style.left = `${((Math.max(-1, Math.min(1, score)) + 1) / 2) * 100}%`;
    marker.hidden = false;
    const value = $("sentiment-value");
    value.textContent = `${score >= 0 ? "+" : "−"}${number(Math.abs(score), 2)}`;
    value.dataset.value = String(score);
    const tone = { positive: "good", negative: "bad", neutral: "warn" }[label] || "";
    const french = SENTIMENT_LABELS[label] || label;
    const labelNode = $("sentiment-label");
    labelNode.textContent = french;
    labelNode.className = `badge ${tone}`;
    const bars = $("sentiment-probabilities");
    if (analysis instanceof Error) {
      bars.replaceChildren(el("p", { class: "help", text: `Détail du sentiment indisponible : ${analysis.message}` }));
      bars.hidden = false;
    } else if (analysis) {
      const { data } = analysis;
      const order = ["negative", "neutral", "positive"];
      const labels = Object.keys(data.probabilities).sort((a, b) => order.indexOf(a) - order.indexOf(b));
      bars.replaceChildren(
        ...labels.map((name) =>
          barRow(
            SENTIMENT_LABELS[name] || name,
            data.probabilities[name],
            percent(data.probabilities[name]),
            "sentiment-probability",
          ),
        ),
        el("p", {
          class: "help",
          text: `Confiance ${percent(data.confidence)} · modèle ${data.model}${data.truncated ? " · texte tronqué" : ""}`,
        }),
      );
      bars.hidden = false;
    } else {
      bars.hidden = true;
    }
  }

  /** Plain facts about an item next to the reviewed vehicle: what the score rewards. */
  function reasons(item, reviewed) {
    const chips = [item.disponible ? badge("disponible", "good") : badge("indisponible", "bad")];
    if (reviewed) {
      if (item.type === reviewed.type) chips.push(badge(`même type (${item.type})`, "info"));
      if (item.marque === reviewed.marque) chips.push(badge("même marque", "info"));
      if (item.prix < reviewed.prix) chips.push(badge("moins cher", ""));
      else if (item.prix > reviewed.prix) chips.push(badge("plus cher", ""));
    }
    return chips;
  }

  function renderRecommendation(answer, analysis, reviewed) {
    const data = answer.data;
    renderSentiment(data.sentiment_score, data.sentiment_label, analysis);

    const cache = $("reco-cache");
    cache.textContent = data.cached ? "cache : hit" : "cache : miss";
    cache.className = `badge ${data.cached ? "good" : "info"}`;
    cache.dataset.cached = String(data.cached);
    cache.hidden = false;

    $("reco-reviewed").textContent = reviewed
      ? `Véhicule évalué : ${vehicleSummary(reviewed)}. Score = similarité, disponibilité et réputation pondérées.`
      : "";
    const list = $("reco-list");
    list.replaceChildren(
      ...data.recommendations.map((item, index) => {
        const scoreBar = el("div", { class: "bar" }, el("span"));
        scoreBar.firstChild.style.width = `${Math.max(0, Math.min(1, item.score)) * 100}%`;
        return el(
          "li",
          { class: "reco-item", "data-testid": "reco-item", "data-vehicle-id": item.id },
          el("span", { class: "reco-rank", text: index + 1 }),
          el(
            "div",
            {},
            el(
              "div",
              { class: "reco-head" },
              el("span", { class: "reco-name", text: item.nom }),
              el("span", { class: "reco-meta", text: `#${item.id} · ${item.type} · ${number(item.prix, 0)} €/jour` }),
            ),
            el("div", { class: "reco-why" }, reasons(item, reviewed)),
          ),
          el("div", { class: "reco-score" }, el("span", { text: `score ${number(item.score, 3)}` }), scoreBar),
        );
      }),
    );
    $("reco-empty").hidden = data.recommendations.length > 0;
    $("reco-empty").textContent = "Aucune proposition pour cet avis.";

    const timings = [
      ["Réponse", data.cached ? "depuis le cache (hit)" : "calculée (miss)"],
      ["Traitement dans la passerelle", ms(data.processing_time_ms)],
    ];
    // The answer's own stages: a hit has the cache lookup only.
    for (const [stage, label] of STAGES) {
      const spent = data.timings_ms && data.timings_ms[stage];
      if (spent !== undefined) timings.push([`· ${label}`, ms(spent)]);
    }
    timings.push(
      ["Aller-retour mesuré", ms(answer.elapsed)],
      ["Réseau et encodage", ms(Math.max(0, answer.elapsed - data.processing_time_ms))],
    );
    if (analysis && !(analysis instanceof Error)) {
      timings.push(["Sentiment seul (aller-retour)", ms(analysis.elapsed)]);
    }
    timings.push(["Corrélation", el("code", { class: "id", text: data.correlation_id })]);
    facts($("reco-timings"), timings);
  }

  // ------------------------------------------------------------------ dispatch

  /** The seed README's example (tests/e2e/helpers.rs `seed_request`). */
  const SEED = {
    annonce: {
      annonce_id: "ANN-2024-001",
      type_livraison: "express",
      point_ramassage: { latitude: 48.8566, longitude: 2.3522 },
      point_livraison: { latitude: 48.8738, longitude: 2.295 },
    },
    livreurs_candidats: [
      {
        livreur_id: "LIV-001",
        position_actuelle: { latitude: 48.8606, longitude: 2.3376 },
        reputation: 8.5,
        capacite_max_kg: 30,
        type_vehicule: "moto",
      },
      {
        livreur_id: "LIV-002",
        position_actuelle: { latitude: 48.8556, longitude: 2.3486 },
        reputation: 9.0,
        capacite_max_kg: 50,
        type_vehicule: "voiture",
      },
    ],
  };
  const CRITERIA = [
    ["proximite_geographique", "Proximité"],
    ["capacite", "Capacité"],
    ["type_vehicule", "Véhicule"],
    ["reputation", "Réputation"],
  ];
  /** Default matrices by upper triangle (a12, a13, a14, a23, a24, a34), as docs/ranking.md. */
  const DEFAULT_AHP = {
    standard: [2, 3, 4, 2, 3, 2],
    express: [3, 4, 5, 2, 3, 2],
    sameday: [4, 5, 6, 2, 3, 2],
  };
  const UPPER = [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]];
  const REASONS = {
    hors_zone: "hors de l'ellipse",
    capacite_poids_insuffisante: "capacité en poids insuffisante",
    capacite_volume_insuffisante: "capacité en volume insuffisante",
  };

  const ahpInput = (i, j) => $(`ahp-${i}-${j}`);

  function buildAhpGrid() {
    const body = $("d-ahp").tBodies[0];
    body.replaceChildren(
      ...CRITERIA.map(([, name], i) =>
        el(
          "tr",
          {},
          el("th", { scope: "row", text: name }),
          ...CRITERIA.map(([, other], j) =>
            el(
              "td",
              {},
              el("input", {
                id: `ahp-${i}-${j}`,
                type: "number",
                step: "any",
                min: "0",
                "aria-label": `${name} contre ${other}`,
                readonly: i >= j,
              }),
            ),
          ),
        ),
      ),
    );
    for (const [i, j] of UPPER) ahpInput(i, j).addEventListener("input", () => syncReciprocal(i, j));
  }

  function syncReciprocal(i, j) {
    const value = Number(ahpInput(i, j).value);
    ahpInput(j, i).value = value > 0 ? String(Number((1 / value).toFixed(3))) : "";
  }

  function showAhp() {
    const custom = $("d-ahp-custom").checked;
    if (!custom) {
      DEFAULT_AHP[$("d-type").value].forEach((value, k) => {
        const [i, j] = UPPER[k];
        ahpInput(i, j).value = String(value);
      });
    }
    for (let i = 0; i < 4; i += 1) {
      ahpInput(i, i).value = "1";
      for (let j = 0; j < 4; j += 1) ahpInput(i, j).disabled = !custom;
    }
    for (const [i, j] of UPPER) syncReciprocal(i, j);
  }

  function ahpMatrix() {
    const matrix = [0, 1, 2, 3].map(() => [1, 1, 1, 1]);
    for (const [i, j] of UPPER) {
      const value = Number(ahpInput(i, j).value);
      if (!(value > 0)) throw new Error("Matrice AHP : chaque comparaison doit être un nombre > 0");
      matrix[i][j] = value;
      matrix[j][i] = 1 / value;
    }
    return matrix;
  }

  function fillSeed() {
    const a = SEED.annonce;
    $("d-annonce-id").value = a.annonce_id;
    $("d-type").value = a.type_livraison;
    $("d-pickup-lat").value = a.point_ramassage.latitude;
    $("d-pickup-lon").value = a.point_ramassage.longitude;
    $("d-dropoff-lat").value = a.point_livraison.latitude;
    $("d-dropoff-lon").value = a.point_livraison.longitude;
    for (const id of ["d-weight", "d-volume", "d-tolerance", "d-topk"]) $(id).value = "";
    $("d-ahp-custom").checked = false;
    $("d-candidates").value = JSON.stringify(SEED.livreurs_candidats, null, 2);
    showAhp();
  }

  /** The number in `id`, or undefined when it is empty. */
  function optionalNumber(id, label) {
    const raw = $(id).value.trim();
    if (raw === "") return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new Error(`${label} : un nombre est attendu`);
    return value;
  }

  function requiredNumber(id, label) {
    const value = optionalNumber(id, label);
    if (value === undefined) throw new Error(`${label} : obligatoire`);
    return value;
  }

  function dispatchRequest() {
    const annonce = {
      annonce_id: $("d-annonce-id").value,
      type_livraison: $("d-type").value,
      point_ramassage: {
        latitude: requiredNumber("d-pickup-lat", "Latitude du ramassage"),
        longitude: requiredNumber("d-pickup-lon", "Longitude du ramassage"),
      },
      point_livraison: {
        latitude: requiredNumber("d-dropoff-lat", "Latitude de la livraison"),
        longitude: requiredNumber("d-dropoff-lon", "Longitude de la livraison"),
      },
    };
    const weight = optionalNumber("d-weight", "Poids du colis");
    if (weight !== undefined) annonce.poids_colis_kg = weight;
    const volume = optionalNumber("d-volume", "Volume du colis");
    if (volume !== undefined) annonce.volume_colis_m3 = volume;

    const options = { include_details: true };
    const tolerance = optionalNumber("d-tolerance", "Tolérance");
    if (tolerance !== undefined) options.tolerance_spatiale_km = tolerance;
    const topK = optionalNumber("d-topk", "Garder les");
    if (topK !== undefined) options.top_k = topK;
    if ($("d-ahp-custom").checked) options.matrice_ahp = ahpMatrix();

    const request = { annonce, options };
    const text = $("d-candidates").value.trim();
    // Empty: the field is left out, and the service ranks the couriers it knows (live ones).
    if (text) {
      let candidates;
      try {
        candidates = JSON.parse(text);
      } catch (error) {
        throw new Error(`Livreurs candidats : JSON invalide (${error.message})`);
      }
      if (!Array.isArray(candidates)) throw new Error("Livreurs candidats : un tableau JSON est attendu");
      request.livreurs_candidats = candidates;
    }
    return request;
  }

  /** The last ranking shown, redrawn when the framing changes. */
  let lastRanking = null;

  async function rank() {
    const request = dispatchRequest();
    const answer = await api("POST", "/api/v1/livreurs/rank", request);
    lastRanking = { request, data: answer.data };
    renderDispatch(request, answer);
  }

  function initDispatch() {
    buildAhpGrid();
    fillSeed();
    $("d-type").addEventListener("change", showAhp);
    $("d-ahp-custom").addEventListener("change", showAhp);
    $("dispatch-reset").addEventListener("click", fillSeed);
    $("d-zoom").addEventListener("change", () => {
      if (lastRanking) drawMap(lastRanking.request, lastRanking.data);
    });
    $("dispatch-form").addEventListener("submit", (event) => {
      event.preventDefault();
      busy($("dispatch-submit"), $("dispatch-error"), rank);
    });
  }

  // Geometry: haversine distances, and a local equirectangular projection in km.
  const rad = (deg) => (deg * Math.PI) / 180;
  const deg = (r) => (r * 180) / Math.PI;

  function haversine(a, b) {
    const dLat = rad(b.latitude - a.latitude);
    const dLon = rad(b.longitude - a.longitude);
    const h =
      Math.sin(dLat / 2) ** 2 +
      Math.cos(rad(a.latitude)) * Math.cos(rad(b.latitude)) * Math.sin(dLon / 2) ** 2;
    return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  function projection(origin, meanLatitude) {
    const k = Math.cos(rad(meanLatitude));
    return {
      toPlane: (p) => ({
        x: EARTH_RADIUS_KM * rad(p.longitude - origin.longitude) * k,
        y: EARTH_RADIUS_KM * rad(p.latitude - origin.latitude),
      }),
      toSphere: (q) => ({
        latitude: origin.latitude + deg(q.y / EARTH_RADIUS_KM),
        longitude: origin.longitude + deg(q.x / (EARTH_RADIUS_KM * k)),
      }),
    };
  }

  /**
   * The boundary d(P,F1) + d(P,F2) = maxPath, sampled by angle around the midpoint: along each
   * ray, the radius where the haversine sum reaches the maximum, found by bisection.
   */
  function ellipse(f1, f2, maxPath, proj, samples = 144) {
    const a = proj.toPlane(f1);
    const b = proj.toPlane(f2);
    const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
    const excess = (r, angle) => {
      const p = proj.toSphere({ x: mid.x + r * Math.cos(angle), y: mid.y + r * Math.sin(angle) });
      return haversine(p, f1) + haversine(p, f2) - maxPath;
    };
    const points = [];
    for (let k = 0; k < samples; k += 1) {
      const angle = (2 * Math.PI * k) / samples;
      let low = 0;
      let high = Math.max(maxPath, 1e-6);
      for (let grow = 0; grow < 10 && excess(high, angle) < 0; grow += 1) high *= 2;
      for (let step = 0; step < 50; step += 1) {
        const middle = (low + high) / 2;
        if (excess(middle, angle) <= 0) low = middle;
        else high = middle;
      }
      points.push({ x: mid.x + low * Math.cos(angle), y: mid.y + low * Math.sin(angle) });
    }
    return points;
  }

  /** A round distance (1, 2 or 5 × 10ⁿ km) not above `max`. */
  function niceDistance(max) {
    const power = 10 ** Math.floor(Math.log10(max));
    return [5, 2, 1].map((m) => m * power).find((d) => d <= max) || power;
  }

  /** Who each courier is in the answer: ranked, rejected, or eligible past top_k. */
  function courierStatuses(request, data) {
    const statuses = new Map();
    for (const c of request.livreurs_candidats || []) {
      statuses.set(c.livreur_id, { id: c.livreur_id, position: c.position_actuelle, status: "eligible" });
    }
    for (const r of data.livreurs_classes) {
      const known = statuses.get(r.livreur_id) || { id: r.livreur_id, position: r.position_actuelle };
      statuses.set(r.livreur_id, { ...known, status: "eligible", ranked: r });
    }
    for (const r of data.metadata.candidats_rejetes_details || []) {
      const known = statuses.get(r.livreur_id) || { id: r.livreur_id, position: r.position_actuelle };
      statuses.set(r.livreur_id, { ...known, status: "rejected", rejected: r });
    }
    return Array.from(statuses.values());
  }

  function courierTooltip(c) {
    if (c.ranked) {
      const age = c.ranked.age_position_s !== undefined ? `, position il y a ${number(c.ranked.age_position_s, 0)} s` : "";
      return `${c.id} — rang ${c.ranked.rang}, score ${number(c.ranked.score_final, 3)}${age}`;
    }
    if (c.rejected) {
      return `${c.id} — rejeté : ${REASONS[c.rejected.raison] || c.rejected.raison} (trajet ${km(c.rejected.trajet_km)} pour ${km(c.rejected.trajet_max_km)} au plus)`;
    }
    return `${c.id} — éligible, au-delà du nombre gardé`;
  }

  function drawMap(request, data) {
    const map = $("dispatch-map");
    // Drawn at the size it is shown, so text and markers keep their pixel sizes.
    const width = Math.round(map.getBoundingClientRect().width) || 640;
    const height = Math.round(width * 0.72);
    map.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const f1 = request.annonce.point_ramassage;
    const f2 = request.annonce.point_livraison;
    const direct = haversine(f1, f2);
    const tolerance = data.metadata.tolerance_spatiale_km;
    const maxPath = direct + 2 * tolerance;
    const couriers = courierStatuses(request, data);
    const placed = couriers.filter((c) => c.position);
    const latitudes = [f1, f2, ...placed.map((c) => c.position)].map((p) => p.latitude);
    const meanLatitude = latitudes.reduce((s, v) => s + v, 0) / latitudes.length;
    const origin = { latitude: (f1.latitude + f2.latitude) / 2, longitude: (f1.longitude + f2.longitude) / 2 };
    const proj = projection(origin, meanLatitude);
    const zone = ellipse(f1, f2, maxPath, proj);
    const plane = {
      f1: proj.toPlane(f1),
      f2: proj.toPlane(f2),
      couriers: placed.map((c) => ({ ...c, at: proj.toPlane(c.position) })),
    };
    // The whole ellipse, or only what stands in it (the ellipse then runs off the frame).
    const framed = [plane.f1, plane.f2, ...plane.couriers.map((c) => c.at)];
    const all = $("d-zoom").checked ? framed : [...framed, ...zone];
    const minX = Math.min(...all.map((p) => p.x));
    const maxX = Math.max(...all.map((p) => p.x));
    const minY = Math.min(...all.map((p) => p.y));
    const maxY = Math.max(...all.map((p) => p.y));
    const pad = 44;
    const scale = Math.min((width - 2 * pad) / Math.max(maxX - minX, 1e-3), (height - 2 * pad) / Math.max(maxY - minY, 1e-3));
    const offsetX = (width - (maxX - minX) * scale) / 2;
    const offsetY = (height - (maxY - minY) * scale) / 2;
    const sx = (p) => offsetX + (p.x - minX) * scale;
    const sy = (p) => offsetY + (maxY - p.y) * scale;
    const fixed = (v) => v.toFixed(1);

    const nodes = [];
    // A km grid, the same step as the scale bar.
    const step = niceDistance(Math.max(120 / scale, 1e-3));
    const grid = svg("g", { "aria-hidden": "true" });
    for (let x = Math.ceil((minX - pad / scale) / step) * step; x <= maxX + pad / scale; x += step) {
      const px = fixed(sx({ x, y: 0 }));
      grid.append(svg("line", { class: "grid-line", x1: px, y1: 0, x2: px, y2: height }));
    }
    for (let y = Math.ceil((minY - pad / scale) / step) * step; y <= maxY + pad / scale; y += step) {
      const py = fixed(sy({ x: 0, y }));
      grid.append(svg("line", { class: "grid-line", x1: 0, y1: py, x2: width, y2: py }));
    }
    nodes.push(grid);

    const path = `${zone.map((p, i) => `${i ? "L" : "M"}${fixed(sx(p))},${fixed(sy(p))}`).join(" ")} Z`;
    nodes.push(
      svg(
        "path",
        { id: "dispatch-ellipse", class: "zone", d: path, "data-testid": "ellipse", "data-max-km": maxPath.toFixed(3) },
        svg("title", { text: `Ellipse : d(P,F1) + d(P,F2) ≤ ${km(maxPath)}` }),
      ),
    );
    nodes.push(svg("line", { class: "route", x1: fixed(sx(plane.f1)), y1: fixed(sy(plane.f1)), x2: fixed(sx(plane.f2)), y2: fixed(sy(plane.f2)) }));

    // Drop-off and pickup under the couriers; rejected couriers under eligible ones; labels
    // last, each where it overlaps no marker nor label already placed.
    const occupied = [];
    const labels = [];
    const place = (x, y, text, radius, cls) => {
      const w = text.length * 6.6 + 4;
      const h = 13;
      const candidates = [
        [x + radius + 3, y - radius - 1],
        [x + radius + 3, y + radius + h],
        [x - radius - 3 - w, y - radius - 1],
        [x - radius - 3 - w, y + radius + h],
        [x - w / 2, y - radius - 4],
        [x - w / 2, y + radius + h + 2],
      ];
      const free = ([lx, ly]) =>
        lx >= 2 && lx + w <= width - 2 && ly - h >= 2 && ly <= height - 2 &&
        occupied.every((o) => lx + w < o.x1 || lx > o.x2 || ly < o.y1 || ly - h > o.y2);
      const [lx, ly] = candidates.find(free) || candidates[0];
      occupied.push({ x1: lx, x2: lx + w, y1: ly - h, y2: ly });
      labels.push(svg("text", { class: cls, x: fixed(lx), y: fixed(ly - 3), text }));
    };
    const ends = [[plane.f2, "dropoff", "F2 livraison"], [plane.f1, "pickup", "F1 ramassage"]];
    for (const [p, kind, name] of ends) {
      const x = sx(p);
      const y = sy(p);
      occupied.push({ x1: x - 7, x2: x + 7, y1: y - 7, y2: y + 7 });
      nodes.push(
        svg(
          "g",
          { "data-testid": `${kind}-marker` },
          svg("title", { text: name }),
          svg("rect", { class: `endpoint ${kind}`, x: fixed(x - 7), y: fixed(y - 7), width: 14, height: 14, rx: 2 }),
        ),
      );
    }
    const ordered = plane.couriers
      .map((c) => ({ ...c, x: sx(c.at), y: sy(c.at), radius: c.ranked ? 10 : 8 }))
      .sort((a, b) => (a.status === b.status ? 0 : a.status === "rejected" ? -1 : 1));
    for (const c of ordered) {
      occupied.push({ x1: c.x - c.radius, x2: c.x + c.radius, y1: c.y - c.radius, y2: c.y + c.radius });
      nodes.push(
        svg(
          "g",
          { class: "courier-marker", "data-testid": "courier-marker", "data-status": c.status, "data-livreur-id": c.id },
          svg("title", { text: courierTooltip(c) }),
          svg("circle", { class: `courier ${c.status}`, cx: fixed(c.x), cy: fixed(c.y), r: c.radius }),
          c.ranked ? svg("text", { class: "courier-rank", x: fixed(c.x), y: fixed(c.y + 3.5), "text-anchor": "middle", text: c.ranked.rang }) : null,
        ),
      );
    }
    for (const [p, , name] of ends) place(sx(p), sy(p), name, 7, "label strong");
    for (const c of ordered.slice().reverse()) {
      place(c.x, c.y, c.id, c.radius, `label ${c.status === "rejected" ? "muted" : ""}`.trim());
    }
    nodes.push(svg("g", { class: "labels", "aria-hidden": "true" }, labels));

    // Scale bar, bottom left.
    const barPx = step * scale;
    const bx = 16;
    const by = height - 16;
    nodes.push(
      svg(
        "g",
        { "data-testid": "scale-bar" },
        svg("path", { class: "scale", d: `M${bx},${by - 5} V${by} H${fixed(bx + barPx)} V${by - 5}`, fill: "none" }),
        svg("text", { class: "scale-text", x: fixed(bx + barPx / 2), y: by - 8, "text-anchor": "middle", text: `${number(step, step < 1 ? 1 : 0)} km` }),
      ),
    );
    map.replaceChildren(...nodes);

    const unplaced = couriers.length - placed.length;
    $("dispatch-map-note").textContent =
      `Projection équirectangulaire (longitudes × cos ${number(meanLatitude, 2)}°). ` +
      `Ellipse : d(P,F1) + d(P,F2) ≤ ${km(maxPath)} = d(F1,F2) ${km(direct)} + 2 × tolérance ${km(tolerance)}.` +
      (unplaced ? ` ${unplaced} livreur${unplaced > 1 ? "s" : ""} sans position connue de la console (non dessiné${unplaced > 1 ? "s" : ""}).` : "");
  }

  function criteriaTable(details) {
    return el(
      "table",
      { class: "criteria" },
      el("thead", {}, el("tr", {}, ...["Critère", "Valeur", "Pondérée", "→ idéal²", "→ anti-idéal²"].map((t) => el("th", { scope: "col", text: t })))),
      el(
        "tbody",
        {},
        ...CRITERIA.map(([key, name]) => {
          const c = details.criteres[key];
          return el(
            "tr",
            {},
            el("td", { text: name }),
            el("td", { text: number(c.valeur, 2) }),
            el("td", { text: number(c.valeur_ponderee, 4) }),
            el("td", { text: number(c.contribution_distance_ideal, 5) }),
            el("td", { text: number(c.contribution_distance_anti_ideal, 5) }),
          );
        }),
        el(
          "tr",
          {},
          el("td", { text: "Distances" }),
          el("td", { colspan: 2, text: "" }),
          el("td", { text: `d⁺ ${number(details.distance_ideal, 4)}` }),
          el("td", { text: `d⁻ ${number(details.distance_anti_ideal, 4)}` }),
        ),
      ),
    );
  }

  function renderDispatch(request, answer) {
    const data = answer.data;
    const meta = data.metadata;
    drawMap(request, data);

    $("dispatch-ranked").replaceChildren(
      ...data.livreurs_classes.map((r) => {
        const scoreBar = el("div", { class: "bar" }, el("span"));
        scoreBar.firstChild.style.width = `${Math.max(0, Math.min(1, r.score_final)) * 100}%`;
        const d = r.details;
        return el(
          "tr",
          { "data-testid": "ranked-item", "data-livreur-id": r.livreur_id },
          el("td", { class: "rank", text: r.rang }),
          el(
            "td",
            {},
            el("strong", { text: r.livreur_id }),
            r.age_position_s !== undefined ? el("div", { class: "help", text: `position il y a ${number(r.age_position_s, 0)} s` }) : null,
            d ? el("details", {}, el("summary", { text: "pourquoi" }), criteriaTable(d)) : null,
          ),
          el("td", {}, el("div", { text: number(r.score_final, 4) }), scoreBar),
          el(
            "td",
            {},
            d ? el("div", { text: `→ F1 ${km(d.distance_ramassage_km)}` }) : "—",
            d ? el("div", { text: `→ F2 ${km(d.distance_livraison_km)}` }) : null,
          ),
        );
      }),
    );
    $("dispatch-empty").hidden = data.livreurs_classes.length > 0;
    $("dispatch-empty").textContent = "Aucun livreur éligible.";

    const rejected = meta.candidats_rejetes_details || [];
    $("dispatch-rejected").replaceChildren(
      ...rejected.map((r) =>
        el(
          "tr",
          { "data-testid": "rejected-item", "data-livreur-id": r.livreur_id },
          el("td", { text: r.livreur_id }),
          el("td", { text: REASONS[r.raison] || r.raison }),
          el("td", { text: `${km(r.trajet_km)} / ${km(r.trajet_max_km)}` }),
        ),
      ),
    );
    $("dispatch-rejected-block").hidden = rejected.length === 0;

    const w = meta.poids_ahp;
    $("dispatch-weights").replaceChildren(
      ...CRITERIA.map(([key, name]) => barRow(name, w[key], percent(w[key]), "ahp-weight")),
    );
    facts($("dispatch-consistency"), [
      ["λmax", number(w.lambda_max, 4)],
      ["CI", number(w.CI, 4)],
      ["CR", number(w.CR, 4)],
      ["Cohérente (CR < 0,1)", w.est_coherent ? badge("oui", "good") : badge("non", "bad")],
    ]);
    const s = meta.statistiques_filtrage;
    facts($("dispatch-stats"), [
      ["Type", meta.type_livraison],
      ["Tolérance", km(meta.tolerance_spatiale_km)],
      ["Candidats", s.total_candidats],
      ["Éligibles", s.candidats_eligibles],
      ["Rejetés", s.candidats_rejetes],
      ["… hors zone", s.rejetes_hors_zone],
      ["… capacité", s.rejetes_capacite],
      ["Traitement (passerelle)", ms(meta.duree_traitement_ms)],
      ["Aller-retour mesuré", ms(answer.elapsed)],
    ]);
  }

  // ------------------------------------------------------------------ status

  /** The stages of `timings_ms`, in the order they run (sentiment and embedding together). */
  const STAGES = [
    ["cache", "cache (recherche)"],
    ["sentiment", "sentiment"],
    ["embedding", "embedding de l'avis"],
    ["search", "recherche vectorielle"],
    ["rescore", "re-score"],
    ["store", "enregistrement de l'avis"],
  ];

  const STATUS_TONE = { serving: "good", not_serving: "warn", unreachable: "bad" };

  function duration(seconds) {
    if (seconds < 120) return `${Math.round(seconds)} s`;
    if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
    return `${number(seconds / 3600, 1)} h`;
  }

  /** Reloads the health report and the tenant's figures; never rejects. */
  async function refreshStatus() {
    const box = $("status-error");
    showError(box, null);
    try {
      const [detail, stats] = await Promise.all([
        api("GET", "/api/v1/admin/health").catch((e) => e),
        api("GET", "/api/v1/admin/stats").catch((e) => e),
      ]);
      // The dependencies' detail is for admins; anyone else sees the public summary.
      const refused = detail instanceof ApiProblem && (detail.status === 401 || detail.status === 403);
      const health = refused ? await api("GET", "/api/v1/health").catch((e) => e) : detail;
      if (health instanceof Error) showError(box, health);
      else renderHealth(health.data);
      renderStats(stats);
    } catch (error) {
      showError(box, error);
    }
  }

  function renderHealth(report) {
    const summary = $("status-summary");
    summary.replaceChildren(
      badge(report.status === "ok" ? "tout fonctionne" : "dégradé", report.status === "ok" ? "good" : "warn"),
      report.dependencies
        ? ` Passerelle ${report.version}, démarrée il y a ${duration(report.uptime_s)}.`
        : " Le détail des dépendances est réservé au rôle admin.",
    );
    summary.dataset.status = report.status;
    $("status-deps").replaceChildren(
      ...(report.dependencies || []).map((d) =>
        el(
          "tr",
          { "data-testid": "dep-row", "data-name": d.name, "data-status": d.status },
          el("td", { text: d.name }),
          el("td", {}, badge(d.status, STATUS_TONE[d.status])),
          el("td", { text: ms(d.latency_ms) }),
          el("td", { class: "help", text: d.error || "" }),
        ),
      ),
    );
  }

  function renderStats(result) {
    const notice = $("stats-error");
    if (result instanceof Error) {
      const problem = result instanceof ApiProblem ? result : null;
      const status = problem ? problem.status : 0;
      notice.textContent =
        status === 401
          ? `Identifiants requis ou refusés (${problem.detail}) : les chiffres du locataire demandent une clé d'API ou un jeton du rôle admin, à saisir en haut de la page.`
          : status === 403
            ? `Réservé au rôle admin (${problem.detail}) : saisissez une clé d'API ou un jeton admin en haut de la page.`
            : `Statistiques indisponibles : ${result.message}`;
      notice.hidden = false;
      $("stats-catalog").replaceChildren();
      $("stats-jobs-block").hidden = true;
      return;
    }
    notice.hidden = true;
    const data = result.data;
    facts($("stats-catalog"), [
      ["Locataire", data.tenant],
      ["Véhicules au catalogue", data.catalog.vehicles],
      ["Indexés", `${data.catalog.indexed} (${percent(data.catalog.indexed_share)})`],
      ["Version du catalogue", data.catalog.catalog_version],
      ["Cache (cette passerelle)", `${data.cache.hits} hit · ${data.cache.misses} miss`],
      ["Taux de hit", percent(data.cache.hit_ratio)],
    ]);
    const lifecycle = ["PENDING", "STARTED", "RETRY", "SUCCESS", "FAILURE"];
    const rank = (state) => (lifecycle.includes(state) ? lifecycle.indexOf(state) : lifecycle.length);
    const jobs = Object.entries(data.jobs).sort(([a], [b]) => rank(a) - rank(b));
    $("stats-jobs").replaceChildren(
      ...jobs.map(([state, count]) =>
        el("tr", { "data-testid": "job-row" }, el("td", { text: state }), el("td", { text: count })),
      ),
    );
    $("stats-jobs-block").hidden = false;
  }

  function initStatus() {
    $("status-refresh").addEventListener("click", refreshStatus);
  }

  // ------------------------------------------------------------------ start

  document.addEventListener("DOMContentLoaded", () => {
    initCredential();
    initRecommendation();
    initDispatch();
    initStatus();
    initTabs();
    document.body.dataset.ready = "true";
  });
})();
