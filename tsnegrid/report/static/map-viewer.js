/*
 * tsnegrid map viewer: the final map as a zoomable Deep Zoom image (OpenSeadragon), with the
 * name, class and index of the image under the pointer, under a tap or click, or at the centre of
 * the view while the map has keyboard focus; and a legend of the classes.
 *
 * The page holds <div id="tsnegrid-map" data-dzi="tiles/map.dzi" data-layout="tiles/cells.json">;
 * both paths are relative to the site root, which is found from this script's own address
 * (assets/tsnegrid/map-viewer.js), so the site works under any sub-path and offline.
 * cells.json holds the grid and the classes; who sits in which cell comes in parts
 * (cells/<k>.json beside it, a block of rows each), fetched the first time the pointer visits
 * one of their rows, so that a map of a million images loads no more than it shows.
 * OpenSeadragon (vendored beside this file) is loaded only when a map scrolls into view.
 * Text from the report (image and class names) is only ever set with textContent.
 */
(function () {
  "use strict";

  var SCRIPT_URL = document.currentScript ? document.currentScript.src : document.baseURI;
  var SITE_ROOT = new URL("../../", SCRIPT_URL);
  var OSD_URL = new URL("openseadragon/openseadragon.min.js", SCRIPT_URL);
  var HINT = "Hover over the map, tap or click a cell, or focus the map with Tab and pan with " +
    "the arrow keys, to see which image it is. Scroll, pinch or use + and - to zoom.";
  var mounted = [];
  var osdPromise = null;

  function loadOpenSeadragon() {
    if (window.OpenSeadragon) {
      return Promise.resolve(window.OpenSeadragon);
    }
    if (!osdPromise) {
      osdPromise = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = OSD_URL.href;
        script.async = true;
        script.onload = function () { resolve(window.OpenSeadragon); };
        script.onerror = function () {
          osdPromise = null;
          reject(new Error("cannot load " + OSD_URL.href));
        };
        document.head.appendChild(script);
      });
    }
    return osdPromise;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  /* The cell under map pixel (x, y), or null outside the map. */
  function cellAt(layout, x, y) {
    if (!(x >= 0 && y >= 0 && x < layout.width && y < layout.height)) { return null; }
    var col = Math.floor(x / layout.cell_width);
    var imageRow = Math.floor(y / layout.cell_height);
    return { col: col, imageRow: imageRow, row: layout.rows - 1 - imageRow };
  }

  /* The parts of the layout: who sits in each cell, [index, name, label] or null. */
  function cellParts(layout, layoutUrl) {
    var loaded = {};
    var pending = {};
    function part(cell) {  // the last part that starts at or above the cell's row
      var lo = 0;
      var hi = layout.part_rows.length - 1;
      while (lo < hi) {
        var mid = (lo + hi + 1) >> 1;
        if (layout.part_rows[mid] <= cell.imageRow) { lo = mid; } else { hi = mid - 1; }
      }
      return lo;
    }
    function entry(chunk, cell) {
      var found = chunk.cells[(cell.imageRow - chunk.first_row) * layout.cols + cell.col];
      return found === undefined ? null : found;
    }
    return {
      /* The cell's entry if its part is here, else undefined. */
      now: function (cell) {
        var chunk = loaded[part(cell)];
        return chunk ? entry(chunk, cell) : undefined;
      },
      load: function (cell) {
        var k = part(cell);
        if (!pending[k]) {
          var url = new URL("cells/" + k + ".json", layoutUrl);
          if (layout.version) { url.search = "?v=" + encodeURIComponent(layout.version); }
          pending[k] = fetchJson(url.href).then(function (chunk) {
            loaded[k] = chunk;
            return chunk;
          }, function (error) {
            delete pending[k];
            throw error;
          });
        }
        return pending[k].then(function (chunk) { return entry(chunk, cell); });
      }
    };
  }

  function classOf(layout, label) {
    return label >= 0 && label < layout.class_names.length ? label : -1;
  }

  function buildUi(container, layout) {
    var toolbar = el("div", "tsnegrid-map__toolbar");
    var buttons = [["+", "Zoom in"], ["\u2212", "Zoom out"], ["Whole map", "Show the whole map"],
                   ["Full screen", "Full screen"]].map(function (spec) {
      var button = el("button", "tsnegrid-map__button", spec[0]);
      button.type = "button";
      button.title = spec[1];
      button.setAttribute("aria-label", spec[1]);
      toolbar.appendChild(button);
      return button;
    });
    var canvas = el("div", "tsnegrid-map__canvas");
    canvas.setAttribute("aria-label", "Zoomable map of " + layout.n_images + " images");
    var info = el("p", "tsnegrid-map__info", HINT);
    info.setAttribute("role", "status");
    info.setAttribute("aria-live", "polite");
    container.replaceChildren(toolbar, canvas, info, buildLegend(layout));
    return { buttons: buttons, canvas: canvas, info: info };
  }

  function buildLegend(layout) {
    // role="list" on a div: Material's typeset rules for <ul> would undo the flex layout.
    var legend = el("div", "tsnegrid-map__legend");
    legend.setAttribute("role", "list");
    legend.setAttribute("aria-label", "Classes");
    var counts = layout.counts;
    layout.class_names.forEach(function (name, k) {
      var item = el("div", "tsnegrid-map__class");
      item.setAttribute("role", "listitem");
      var swatch = el("span", "tsnegrid-map__swatch");
      swatch.style.backgroundColor = layout.colors[k];
      item.append(swatch, el("span", "tsnegrid-map__class-name", name),
                  el("span", "tsnegrid-map__count", " (" + counts[k] + ")"));
      legend.appendChild(item);
    });
    legend.hidden = layout.class_names.length === 0;
    return legend;
  }

  /* Show the cell and its entry ([index, name, label], or null for an empty cell). */
  function showCell(ui, layout, cell, entry) {
    if (!cell) {
      ui.info.replaceChildren(document.createTextNode(HINT));
      return;
    }
    var where = "row " + cell.row + ", column " + cell.col;
    if (entry === null) {
      ui.info.replaceChildren(el("span", "tsnegrid-map__empty", "Empty cell (" + where + ")"));
      return;
    }
    var k = classOf(layout, entry[2]);
    var swatch = el("span", "tsnegrid-map__swatch");
    swatch.style.backgroundColor = k >= 0 ? layout.colors[k] : layout.unknown_color;
    ui.info.replaceChildren(
      el("strong", "tsnegrid-map__name", entry[1]),
      document.createTextNode(" \u00b7 "), swatch,
      el("span", "tsnegrid-map__label", k >= 0 ? layout.class_names[k] : "no class"),
      document.createTextNode(" \u00b7 "),
      el("span", "tsnegrid-map__index", "image #" + entry[0]),
      document.createTextNode(" \u00b7 " + where));
  }

  function mount(container) {
    var entry = { container: container, viewer: null, observer: null, dead: false };
    container.classList.add("tsnegrid-map--pending");
    var start = function () {
      if (entry.observer) { entry.observer.disconnect(); entry.observer = null; }
      open(entry).catch(function (error) {
        container.classList.add("tsnegrid-map--failed");
        container.replaceChildren(el("p", "tsnegrid-map__info",
          "The zoomable map could not be loaded (" + error.message + "); the picture below " +
          "shows the whole map."));
      });
    };
    if ("IntersectionObserver" in window) {
      entry.observer = new IntersectionObserver(function (seen) {
        if (seen.some(function (e) { return e.isIntersecting; })) { start(); }
      }, { rootMargin: "200px" });
      entry.observer.observe(container);
    } else {
      start();
    }
    return entry;
  }

  function fetchJson(url) {
    return fetch(url, { cache: "no-cache" }).then(function (response) {
      if (!response.ok) { throw new Error(url + ": HTTP " + response.status); }
      return response.json();
    });
  }

  function open(entry) {
    var container = entry.container;
    var dzi = new URL(container.dataset.dzi, SITE_ROOT);
    var layoutUrl = new URL(container.dataset.layout, SITE_ROOT);
    return Promise.all([loadOpenSeadragon(), fetchJson(layoutUrl.href)]).then(function (got) {
      if (entry.dead) { return; }
      var OSD = got[0];
      var layout = got[1];
      if (layout.version) { dzi.search = "?v=" + encodeURIComponent(layout.version); }
      var ui = buildUi(container, layout);
      container.classList.remove("tsnegrid-map--pending");
      entry.viewer = OSD({
        element: ui.canvas,
        tileSources: dzi.href,
        prefixUrl: "",
        drawer: "canvas",
        showNavigationControl: false,
        showNavigator: true,
        navigatorPosition: "BOTTOM_RIGHT",
        imageSmoothingEnabled: false,
        maxZoomPixelRatio: 16,
        visibilityRatio: 0.5,
        gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true },
        gestureSettingsPen: { clickToZoom: false, dblClickToZoom: true }
      });
      container.tsnegridViewer = entry.viewer;
      wire(entry.viewer, OSD, ui, layout, container, cellParts(layout, layoutUrl));
    });
  }

  function wire(viewer, OSD, ui, layout, container, parts) {
    var pinned = null;
    var shown = 0;  // which select() call the info line belongs to
    var keyboard = false;
    var marker = el("div", "tsnegrid-map__marker");

    function item() { return viewer.world.getItemAt(0); }

    function cellAtElementPoint(point) {
      var image = item();
      if (!image) { return null; }
      var p = image.viewerElementToImageCoordinates(point);
      return cellAt(layout, p.x, p.y);
    }

    function describe(cell) {
      var mine = ++shown;
      var entry = cell ? parts.now(cell) : null;
      if (entry !== undefined) {
        showCell(ui, layout, cell, entry);
        return;
      }
      ui.info.replaceChildren(el("span", "tsnegrid-map__loading",
        "Row " + cell.row + ", column " + cell.col + ": loading\u2026"));
      parts.load(cell).then(function (found) {
        if (mine === shown) { showCell(ui, layout, cell, found); }
      }, function (error) {
        if (mine === shown) {
          ui.info.textContent = "Which image sits here could not be loaded (" + error.message + ").";
        }
      });
    }

    function select(cell) {
      describe(cell);
      if (!cell || !item()) {
        viewer.removeOverlay(marker);
        return;
      }
      var rect = item().imageToViewportRectangle(cell.col * layout.cell_width,
        cell.imageRow * layout.cell_height, layout.cell_width, layout.cell_height);
      if (viewer.getOverlayById(marker)) {
        viewer.updateOverlay(marker, rect);
      } else {
        viewer.addOverlay({ element: marker, location: rect });
      }
    }

    function centreCell() {
      return cellAtElementPoint(viewer.viewport.pixelFromPoint(viewer.viewport.getCenter(true), true));
    }

    viewer.addHandler("open", function () {
      container.classList.add("tsnegrid-map--ready");
    });
    viewer.addHandler("open-failed", function (event) {
      container.classList.add("tsnegrid-map--failed");
      ui.info.textContent = "The zoomable map could not be opened (" + event.message + ").";
    });
    new OSD.MouseTracker({
      element: viewer.canvas,
      moveHandler: function (event) {
        if (event.pointerType !== "mouse" || keyboard) { return; }
        select(cellAtElementPoint(event.position) || pinned);
      },
      leaveHandler: function () { if (!keyboard) { select(pinned); } }
    });
    viewer.addHandler("canvas-click", function (event) {
      if (!event.quick) { return; }
      keyboard = false;
      pinned = cellAtElementPoint(event.position);
      select(pinned);
    });
    viewer.addHandler("canvas-key", function () { keyboard = true; });
    viewer.addHandler("canvas-focus", function () {
      keyboard = viewer.canvas.matches(":focus-visible");
      if (keyboard) { select(centreCell()); }
    });
    viewer.addHandler("canvas-blur", function () { keyboard = false; });
    viewer.addHandler("animation", function () { if (keyboard) { select(centreCell()); } });
    viewer.addHandler("animation-finish", function () { if (keyboard) { select(centreCell()); } });

    ui.buttons[0].addEventListener("click", function () { zoom(viewer, 1.5); });
    ui.buttons[1].addEventListener("click", function () { zoom(viewer, 1 / 1.5); });
    ui.buttons[2].addEventListener("click", function () { viewer.viewport.goHome(); });
    ui.buttons[3].addEventListener("click", function () { toggleFullscreen(container); });
    if (!container.requestFullscreen) { ui.buttons[3].hidden = true; }
  }

  function zoom(viewer, factor) {
    viewer.viewport.zoomBy(factor);
    viewer.viewport.applyConstraints();
  }

  function toggleFullscreen(container) {
    if (document.fullscreenElement) {
      document.exitFullscreen();
    } else {
      container.requestFullscreen();
    }
  }

  /* Called on every page (and on every instant navigation of Material for MkDocs). */
  function setUp() {
    mounted = mounted.filter(function (entry) {
      if (entry.container.isConnected) { return true; }
      entry.dead = true;
      if (entry.observer) { entry.observer.disconnect(); }
      if (entry.viewer) { entry.viewer.destroy(); }
      return false;
    });
    document.querySelectorAll("#tsnegrid-map[data-dzi][data-layout]").forEach(function (node) {
      var known = mounted.some(function (entry) { return entry.container === node; });
      if (!known) { mounted.push(mount(node)); }
    });
  }

  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(setUp);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
