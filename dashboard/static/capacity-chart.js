// The chart component (dashboard/charts.py): loads plotly.js's cartesian bundle once per page,
// draws each figure sent to it, follows its container's width and the page's theme, and says
// why a chart is blank when plotly.js cannot load. Streamlit runs the default export per element.
function loadPlotly(src) {
  if (!window.__capacityPlotly) {
    const loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = new URL(src, document.baseURI).href;
      // Without static serving Streamlit answers with its index page: loaded, but no Plotly.
      script.onload = () =>
        window.Plotly ? resolve(window.Plotly) : reject(new Error(src + " is not plotly.js"));
      script.onerror = () => reject(new Error("cannot load " + script.src));
      document.head.appendChild(script);
    });
    window.__capacityPlotly = loading;
    loading.catch(() => { if (window.__capacityPlotly === loading) window.__capacityPlotly = undefined; });
  }
  return window.__capacityPlotly;
}

export default function (component) {
  const { data, parentElement } = component;
  let div = parentElement.querySelector(".capacity-chart");
  if (!div) {
    div = document.createElement("div");
    div.className = "capacity-chart";
    parentElement.appendChild(div);
  }
  // Streamlit calls this again on new data (or theme) without the previous call's cleanup:
  // the state lives on the div, and each call supersedes the one before.
  const state = div.__capacity || (div.__capacity = { call: 0, resize: null, failed: false });
  const call = ++state.call;
  const current = () => state.call === call && div.isConnected;
  const spec = JSON.parse(data.figure);
  div.style.height = (spec.layout.height || 450) + "px";
  // The page's text colour (light or dark theme); the template's backgrounds are transparent.
  const color = getComputedStyle(parentElement).color;
  spec.layout.font = Object.assign({}, spec.layout.font, color ? { color } : {});
  loadPlotly(data.src)
    .then((Plotly) => {
      if (!current()) return;
      if (state.failed) {  // a message left by a load that failed before, not a plot
        div.textContent = "";
        state.failed = false;
      }
      return Plotly.react(div, spec.data, spec.layout, data.config).then(() => {
        if (state.resize || !current()) return;
        // Follow the container's width (a sidebar opening or closing), not only the window's.
        state.resize = new ResizeObserver(() => {
          if (div.isConnected) Plotly.Plots.resize(div).catch(() => {});
        });
        state.resize.observe(div);
      });
    })
    .catch((error) => {
      if (!current()) return;
      div.style.height = "auto";
      state.failed = true;
      div.textContent = "Chart not drawn: " + error.message +
        " (start the dashboard with `capacity dashboard`, which serves plotly.js).";
    });
  return () => {
    state.call += 1;  // a draw still waiting for plotly.js is dropped
    if (state.resize) state.resize.disconnect();
    state.resize = null;
    if (window.Plotly) window.Plotly.purge(div);
  };
}
