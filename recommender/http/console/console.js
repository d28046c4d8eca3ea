// The console: a page over this service's JSON API. Every data value goes into the page as
// text (textContent, createTextNode, SVG text nodes), never as markup. No library, no build.
"use strict";

const KEY_STORAGE = "recommender.apiKey";  // sessionStorage: this tab only, never a URL
const USER_STORAGE = "recommender.userId";
const TOP_COUNT = 10;
const SEARCH_LIMIT = 10;
const SEARCH_DELAY_MS = 250;
const RATINGS = [5, 4.5, 4, 3.5, 3, 2.5, 2, 1.5, 1, 0.5];
const REASONS = {
  personalized: "from your ratings",
  popular: "liked by many (the list for someone without ratings)",
  new: "new in the catalog",
};

const $ = (id) => document.getElementById(id);
const state = { user: 0, searchSeq: 0, searchTimer: null, keyPrompt: null, keyAnswer: null, routed: false };

// -- talking to the API --------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message, path) {
    super(message);
    this.status = status;
    this.path = path;
  }
}

async function send(method, path, body) {
  const headers = { Accept: "application/json" };
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers.Authorization = "Bearer " + key;
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (failure) {
    throw new ApiError(0, "the service did not answer (" + failure.message + ")", path);
  }
  const data = await response.json().catch(() => null);
  if (response.ok) return data;
  const message = data && typeof data.error === "string" ? data.error : response.statusText;
  throw new ApiError(response.status, message, path);
}

// Reads and writes alike: a 401 asks for a key (once; it is kept for the tab), and a key the
// service refuses is dropped and asked for again, saying so.
async function api(method, path, body) {
  for (let refused = false; ; ) {
    try {
      return await send(method, path, body);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      refused = sessionStorage.getItem(KEY_STORAGE) !== null;
      sessionStorage.removeItem(KEY_STORAGE);
      const key = await askForKey(refused);
      if (key === null) throw new ApiError(401, refused ? "the service refused the API key" : "no API key given", path);
      sessionStorage.setItem(KEY_STORAGE, key);
    }
  }
}

// One form at a time: requests refused together (reads and a write) all wait for the same answer.
function askForKey(refused) {
  if (state.keyAnswer) return state.keyAnswer;
  const form = $("key-form");
  $("key-reason").textContent = refused
    ? "The service refused that API key: nothing was changed. Enter another key, or cancel."
    : "This service needs an API key for that. It is kept in this browser tab only and sent as a header, never in a link.";
  form.classList.toggle("refused", refused);
  form.hidden = false;
  $("key-input").value = "";
  $("key-input").focus();
  state.keyAnswer = new Promise((resolve) => { state.keyPrompt = resolve; });
  return state.keyAnswer;
}

function answerKeyPrompt(key) {
  $("key-form").hidden = true;
  const resolve = state.keyPrompt;
  state.keyPrompt = state.keyAnswer = null;
  if (resolve) resolve(key);
}

function explain(error, what) {
  if (!(error instanceof ApiError)) return what + " failed: " + error.message;
  if (error.status === 404) return what + " is not available here (" + error.path + " answered 404: " + error.message + ").";
  if (error.status === 503) return what + " is not available yet: " + error.message + ".";
  if (error.status === 401) return what + " was refused: " + error.message + ".";
  if (error.status === 0) return what + " failed: " + error.message + ".";
  return what + " failed (" + error.status + "): " + error.message + ".";
}

// -- making elements (text only) -----------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function showMessage(id, text) {
  const node = $(id);
  node.textContent = text || "";
  node.hidden = !text;
}

function notify(text) {
  $("notice").textContent = text;
}

function alertUser(text) {
  const node = $("alert");
  node.textContent = text || "";
  node.hidden = !text;
}

function yearOf(movie) {
  if (movie.year !== undefined && movie.year !== null) return movie.year;
  const match = /\((\d{4})\)\s*$/.exec(movie.title || "");
  return match ? Number(match[1]) : null;
}

function bareTitle(movie) {
  return (movie.title || "").replace(/\s*\(\d{4}\)\s*$/, "");
}

function stars(rating) {
  return "★".repeat(Math.floor(rating)) + (rating % 1 ? "½" : "");
}

function number(value, digits) {
  return typeof value === "number" ? value.toFixed(digits) : "–";
}

function movieLink(movie) {
  const link = el("a", "title", bareTitle(movie));
  link.href = "#/movie/" + encodeURIComponent(movie.movieId);
  return link;
}

// One movie of a list: title (a link to its page), year, genres, then the list's own facts.
function movieItem(movie, facts, withRating) {
  const item = el("li", "movie");
  item.dataset.movieId = movie.movieId;
  const head = el("div", "movie-head");
  head.append(movieLink(movie));
  const year = yearOf(movie);
  if (year) head.append(el("span", "year", year));
  item.append(head);
  if (movie.genres && movie.genres.length) item.append(el("div", "genres", movie.genres.join(", ")));
  const line = el("div", "movie-facts");
  for (const [className, text] of facts) line.append(el("span", className, text));
  item.append(line);
  if (withRating) item.append(ratingForm(movie));
  return item;
}

function ratingForm(movie) {
  const form = el("form", "rate");
  const label = el("label");
  label.append(el("span", "visually-hidden", "Your rating of " + movie.title));
  const select = el("select");
  select.name = "rating";
  for (const value of RATINGS) {
    const option = el("option", null, value + " " + stars(value));
    option.value = String(value);
    select.append(option);
  }
  select.value = "4";
  label.append(select);
  const button = el("button", null, "Rate");
  button.type = "submit";
  form.append(label, button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    rate(movie, Number(select.value), button);
  });
  return form;
}

// -- the user view -------------------------------------------------------------------------

async function rate(movie, rating, button) {
  button.disabled = true;
  alertUser("");
  const user = state.user;
  try {
    await api("POST", "/" + user + "/ratings", [{ movieId: movie.movieId, rating }]);
    notify("Rated " + movie.title + " " + rating + " for user " + user + ".");
    await Promise.all([loadRatings(), loadTop()]);
  } catch (error) {
    alertUser(explain(error, "Rating " + movie.title));
  } finally {
    button.disabled = false;
  }
}

function setUser(user) {
  state.user = user;
  $("user-id").value = String(user);
  sessionStorage.setItem(USER_STORAGE, String(user));
  $("top-heading").textContent = "Top " + TOP_COUNT + " for user " + user;
  $("ratings-heading").textContent = "Ratings of user " + user;
  loadRatings();
  loadTop();
}

function topQuery() {
  const query = new URLSearchParams();
  const genre = $("genre").value;
  const excluded = Number($("exclude-popular").value);
  const order = $("order").value;
  if (genre) query.set("genre", genre);
  if (excluded > 0) query.set("exclude_popular", String(Math.floor(excluded)));
  if (order) query.set("order", order);
  const text = query.toString();
  return text ? "?" + text : "";
}

async function loadTop() {
  const user = state.user;
  try {
    const body = await api("GET", "/" + user + "/ratings/top/" + TOP_COUNT + topQuery());
    if (user !== state.user) return;
    const list = $("top-list");
    list.replaceChildren(...body.recommendations.map((item) => movieItem(item, recommendationFacts(item, body), true)));
    let message = body.recommendations.length ? "" : "No movies left with these filters.";
    if (typeof body.candidates === "number" && body.candidates < TOP_COUNT) {
      message = "Only " + body.candidates + " movies pass these filters.";
    }
    showMessage("top-message", message);
  } catch (error) {
    $("top-list").replaceChildren();
    showMessage("top-message", explain(error, "The top " + TOP_COUNT));
  }
}

function recommendationFacts(item, body) {
  const reason = item.reason || (body.personalized ? "personalized" : "popular");
  const facts = [["predicted", "predicted " + number(item.predictedRating, 2)]];
  if (typeof item.score === "number") facts.push(["score", "score " + number(item.score, 3)]);
  facts.push(["reason reason-" + reason, "why: " + reason + ", " + (REASONS[reason] || reason)]);
  return facts;
}

async function loadRatings() {
  const user = state.user;
  try {
    const body = await api("GET", "/" + user + "/ratings");
    if (user !== state.user) return;
    $("ratings-list").replaceChildren(
      ...body.ratings.map((r) => movieItem(r, [["rating", r.rating + " " + stars(r.rating)]], false)));
    showMessage("ratings-message", body.ratings.length ? "" : "No ratings yet: find a movie and rate it.");
  } catch (error) {
    $("ratings-list").replaceChildren();
    showMessage("ratings-message", explain(error, "The user's ratings"));
  }
}

function searchSoon() {
  clearTimeout(state.searchTimer);
  state.searchTimer = setTimeout(search, SEARCH_DELAY_MS);
}

async function search() {
  const text = $("search").value.trim();
  const seq = ++state.searchSeq;  // only the newest search may fill the list
  if (!text) {
    $("search-results").replaceChildren();
    showMessage("search-message", "");
    return;
  }
  try {
    const query = new URLSearchParams({ q: text, limit: String(SEARCH_LIMIT) });
    const body = await api("GET", "/movies?" + query);
    if (seq !== state.searchSeq) return;
    const movies = Array.isArray(body) ? body : body.movies || body.results || [];
    $("search-results").replaceChildren(...movies.map((m) => movieItem(m, catalogFacts(m), true)));
    showMessage("search-message", movies.length ? "" : "No movie matches “" + text + "”.");
  } catch (error) {
    if (seq !== state.searchSeq) return;
    $("search-results").replaceChildren();
    showMessage("search-message", explain(error, "Search"));
  }
}

function catalogFacts(movie) {
  const facts = [];
  if (typeof movie.ratingsCount === "number") facts.push(["count", movie.ratingsCount + " ratings"]);
  if (typeof movie.meanRating === "number") facts.push(["mean", "mean " + number(movie.meanRating, 2)]);
  return facts;
}

// -- the movie view ------------------------------------------------------------------------

async function showMovie(movieId) {
  $("movie-title").textContent = "Movie " + movieId;
  $("movie-facts").textContent = "";
  $("movie-rate").replaceChildren();
  $("similar-list").replaceChildren();
  showMessage("movie-message", "");
  try {
    const movie = await api("GET", "/movies/" + movieId);
    $("movie-title").textContent = movie.title;
    const year = yearOf(movie);
    const genres = (movie.genres || []).join(", ");
    const facts = catalogFacts(movie).map(([, text]) => text);
    $("movie-facts").textContent = [year, genres, ...facts].filter(Boolean).join(" · ");
    $("movie-rate").replaceChildren(ratingForm(movie));
  } catch (error) {
    showMessage("movie-message", explain(error, "This movie's page"));
  }
  try {
    const body = await api("GET", "/movies/" + movieId + "/similar/" + TOP_COUNT);
    const movies = Array.isArray(body) ? body : body.similar || body.movies || body.recommendations || [];
    const basis = body.basis === "genres" ? "Sharing genres (no ratings yet): " : "";
    $("similar-list").replaceChildren(...movies.map((m) => movieItem(m, similarFacts(m), false)));
    showMessage("similar-message", movies.length ? basis : "No similar movies.");
  } catch (error) {
    showMessage("similar-message", explain(error, "Similar movies"));
  }
}

function similarFacts(movie) {
  const facts = [];
  if (typeof movie.similarity === "number") facts.push(["similarity", "similarity " + number(movie.similarity, 2)]);
  if (movie.basis === "genres") facts.push(["basis", "shares genres"]);
  return facts.concat(catalogFacts(movie));
}

// -- routing -------------------------------------------------------------------------------

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const movie = /^\/movie\/(\d+)$/.exec(hash);
  const view = movie ? "movie-view" : hash === "/status" ? "status-view" : "user-view";
  for (const id of ["user-view", "movie-view", "status-view"]) $(id).hidden = id !== view;
  notify("");
  $("nav-user").toggleAttribute("aria-current", view === "user-view");
  $("nav-status").toggleAttribute("aria-current", view === "status-view");
  const heading = { "user-view": "search", "movie-view": "movie-title", "status-view": "status-heading" }[view];
  if (movie) showMovie(Number(movie[1]));
  if (view === "status-view") window.consoleStatus.load();
  if (state.routed) $(heading).focus();  // keyboard users land on what changed, not at the top
  state.routed = true;
}

function start() {
  $("user-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const user = Number($("user-id").value);
    if (Number.isInteger(user) && user >= 0) setUser(user);
  });
  $("fresh-user").addEventListener("click", () => setUser(1000000 + Math.floor(Math.random() * 1000000000)));
  $("search").addEventListener("input", searchSoon);
  $("filters").addEventListener("change", loadTop);
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); loadTop(); });
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    answerKeyPrompt($("key-input").value.trim() || null);
  });
  $("key-cancel").addEventListener("click", () => answerKeyPrompt(null));
  $("refresh-status").addEventListener("click", () => window.consoleStatus.load());
  window.addEventListener("hashchange", route);
  const saved = Number(sessionStorage.getItem(USER_STORAGE));
  setUser(Number.isInteger(saved) && saved >= 0 ? saved : 0);
  route();
}

window.consoleApi = { api, explain, el, showMessage };
document.addEventListener("DOMContentLoaded", start);
