// The status view: /health, the model catalog (/models) and the drift report (/drift), with
// the two rating histograms drawn as SVG. Text only, as in console.js.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  // Held-out fields that describe the split rather than measure the model.
  const NOT_METRICS = new Set(["share", "seed", "seconds", "fraction", "test_fraction", "rated_pairs", "ratings"]);
  const { api, explain, el, showMessage } = window.consoleApi;
  const $ = (id) => document.getElementById(id);

  function fmt(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "number") return Number.isInteger(value) ? value.toLocaleString("en") : value.toFixed(4);
    if (typeof value === "boolean") return value ? "yes" : "no";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function when(value) {
    if (!value) return "–";
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? String(value) : date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function facts(id, pairs) {
    const list = $(id);
    list.replaceChildren();
    for (const [name, value] of pairs) {
      const row = el("div", "fact");
      row.append(el("dt", null, name), el("dd", null, value));
      list.append(row);
    }
  }

  async function loadHealth() {
    try {
      const health = await api("GET", "/health");
      const model = health.model;
      showMessage("health-message", model ? "" : "No model is loaded yet: the service is starting.");
      facts("model-facts", model ? [
        ["Version", model.modelVersion],
        ["Trained at", when(model.trainedAt)],
        ["Users", fmt(model.users)],
        ["Movies", fmt(model.movies)],
        ["Ratings", fmt(model.ratings)],
        ["Ratings added since", fmt(model.acceptedRatings)],
        ["Rank", fmt(model.rank)],
        ["Min ratings of a top-N movie", fmt(model.minRatings) +
          (model.minRatingsSource === "option" ? " (set by the operator)" : " (fitted to the data)")],
      ] : []);
      facts("training-facts", trainingFacts(health.training));
    } catch (error) {
      showMessage("health-message", explain(error, "The service's health"));
    }
  }

  function trainingFacts(training) {
    if (!training) return [["State", "this service serves a fixed model: it does not retrain"]];
    const pairs = [
      ["State", training.running ? "retraining now" : "idle"],
      ["Retrains", fmt(training.retrains)],
      ["Ratings not in the model yet", fmt(training.unmodelledRatings)],
      ["Last success", when(training.lastSuccess)],
      ["Last error", training.lastError || "none"],
      ["Failures in a row", fmt(training.consecutiveFailures)],
    ];
    if (training.nextRetryInSeconds !== null && training.nextRetryInSeconds !== undefined) {
      pairs.push(["Next retry in", fmt(training.nextRetryInSeconds) + " s"]);
    }
    if (training.policy !== undefined) pairs.push(["Policy", fmt(training.policy)]);
    if (training.rejected !== undefined) pairs.push(["Rejected by the gate", fmt(training.rejected)]);
    if (training.lastRejection) {
      pairs.push(["Last rejection", training.lastRejection.version + ": " + training.lastRejection.reason]);
    }
    return pairs;
  }

  // -- the model catalog ---------------------------------------------------------------------

  async function loadModels() {
    const table = $("models-table");
    table.replaceChildren();
    try {
      const body = await api("GET", "/models");
      const models = body.models || [];
      const metrics = metricNames(models);
      const head = el("tr");
      for (const name of ["Version", "Trained at", "State", ...metrics.map(metricLabel), "Training s"]) {
        const cell = el("th", null, name);
        cell.scope = "col";
        head.append(cell);
      }
      table.append(el("caption", "visually-hidden", "Saved model versions, newest first"));
      const thead = el("thead");
      thead.append(head);
      const tbody = el("tbody");
      for (const model of models) tbody.append(modelRow(model, metrics, body.serving));
      table.append(thead, tbody);
      showMessage("models-message", models.length ? "" : "No saved versions.");
    } catch (error) {
      showMessage("models-message", explain(error, "The model catalog"));
    }
  }

  function metricNames(models) {
    const names = [];
    for (const model of models) {
      for (const [name, value] of Object.entries(model.heldout || {})) {
        if (typeof value === "number" && !NOT_METRICS.has(name) && !names.includes(name)) names.push(name);
      }
    }
    return names;
  }

  // rmse -> RMSE, ndcg_at_10 -> NDCG@10, popular_ndcg_at_10 -> popular NDCG@10.
  function metricLabel(name) {
    return name.replace(/_at_/g, "@").replace(/_/g, " ").replace(/\b(rmse|mae|ndcg)\b/g, (word) => word.toUpperCase());
  }

  function modelRow(model, metrics, servingVersion) {
    const row = el("tr");
    const serving = model.serving || model.modelVersion === servingVersion;
    row.className = serving ? "serving" : model.rejected ? "rejected" : "";
    const version = el("th", null, model.modelVersion);
    version.scope = "row";
    let status = serving ? "serving" : "kept";
    if (model.rejected) {
      const reason = model.rejection && model.rejection.reason ? model.rejection.reason : fmt(model.rejection);
      status = (serving ? "serving (activated), " : "") + "rejected by the gate: " + reason;
    }
    row.append(version, el("td", null, when(model.trainedAt)), el("td", "state", status));
    const heldout = model.heldout || {};
    for (const name of metrics) row.append(el("td", "number", fmt(heldout[name])));
    row.append(el("td", "number", fmt(model.trainingSeconds)));
    return row;
  }

  // -- drift -------------------------------------------------------------------------------

  async function loadDrift() {
    const charts = $("drift-charts");
    charts.replaceChildren();
    facts("drift-facts", []);
    try {
      const report = await api("GET", "/drift");
      showMessage("drift-message", report.retrain
        ? "Drift says retrain" + (report.reasons && report.reasons.length ? ": " + report.reasons.join("; ") : ".")
        : "Drift says no retrain is needed.");
      facts("drift-facts", [
        ["Model", report.modelVersion],
        ["Score", fmt(report.score)],
        ["KL divergence", fmt(report.klDivergence)],
        ["Mean shift", fmt(report.meanShift)],
        ["Median shift", fmt(report.medianShift)],
        ["New users", percent(report.newUsersShare)],
        ["New movies", percent(report.newMoviesShare)],
        ...Object.entries(report.model || {}).map(([name, value]) => ["Model " + name, fmt(value)]),
      ]);
      const top = Math.max(0.01, ...shares(report.reference), ...shares(report.current));
      charts.append(
        histogram("Trained on", report.bins, report.reference, top, "reference"),
        histogram("Newer ratings", report.bins, report.current, top, "current"),
      );
    } catch (error) {
      showMessage("drift-message", explain(error, "The drift report"));
    }
  }

  function percent(value) {
    return typeof value === "number" ? (100 * value).toFixed(1) + " %" : "–";
  }

  function shares(summary) {
    const counts = summary.histogram || [];
    const total = counts.reduce((sum, count) => sum + count, 0);
    return counts.map((count) => (total ? count / total : 0));
  }

  function svg(tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  // One histogram: the share of ratings in each bin, on a y scale shared with its neighbour.
  function histogram(title, bins, summary, top, className) {
    const width = 320, height = 200, left = 36, bottom = 28, right = 8, header = 22;
    const plotHeight = height - bottom - header, plotWidth = width - left - right;
    const values = shares(summary);
    const figure = el("figure", "chart " + className);
    const label = title + ": " + fmt(summary.ratings) + " ratings, mean " + fmt(summary.mean);
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
    chart.append(svg("title", {}, label));
    chart.append(svg("text", { x: left, y: 14, class: "chart-title" }, title));
    for (const tick of [0, top / 2, top]) {
      const y = header + plotHeight * (1 - tick / top);
      chart.append(svg("line", { x1: left, x2: width - right, y1: y, y2: y, class: "grid" }));
      chart.append(svg("text", { x: left - 4, y: y + 4, class: "axis", "text-anchor": "end" }, Math.round(100 * tick) + "%"));
    }
    const step = plotWidth / Math.max(values.length, 1);
    values.forEach((value, i) => {
      const barHeight = plotHeight * (value / top);
      const bar = svg("rect", {
        x: left + i * step + step * 0.1, y: header + plotHeight - barHeight,
        width: step * 0.8, height: barHeight, class: "bar",
      });
      bar.append(svg("title", {}, `${bins[i]}: ${(100 * value).toFixed(1)}% (${summary.histogram[i]} ratings)`));
      chart.append(bar);
      if (values.length <= 12 || i % 2 === 1) {
        chart.append(svg("text", {
          x: left + (i + 0.5) * step, y: height - bottom + 14, class: "axis", "text-anchor": "middle",
        }, bins[i]));
      }
    });
    chart.append(svg("text", { x: left + plotWidth / 2, y: height - 4, class: "axis", "text-anchor": "middle" }, "rating"));
    figure.append(chart, el("figcaption", null, label));
    return figure;
  }

  function load() {
    return Promise.all([loadHealth(), loadModels(), loadDrift()]);
  }

  window.consoleStatus = { load };
})();
