
(function(){
  // The cells, run by run (see src/render/matrix.rs): repeated values are indices into
  // `statuses`, `lists` and `outputs`. Only the rows of the shown page are drawn.
  var count = document.getElementById('matrix-count');
  evalgateUnpack('matrix-data', table, function(message){ count.textContent = message; });

  // The words of b against those of a: [op, text] with op 'same' or 'ins', and the words of a
  // left out as 'del'. Longest common subsequence of words; long texts are only told equal or not.
  function diff(a, b){
    if (a === b) return [['same', b]];
    var x = a.split(/(\s+)/), y = b.split(/(\s+)/);
    if (x.length * y.length > 40000) return [['ins', b]];
    var m = x.length, n = y.length, i, j;
    var l = new Array((m + 1) * (n + 1)).fill(0);
    for (i = m - 1; i >= 0; i--)
      for (j = n - 1; j >= 0; j--)
        l[i * (n + 1) + j] = x[i] === y[j] ? l[(i + 1) * (n + 1) + j + 1] + 1
          : Math.max(l[(i + 1) * (n + 1) + j], l[i * (n + 1) + j + 1]);
    var out = [];
    i = 0; j = 0;
    while (i < m && j < n) {
      if (x[i] === y[j]) { out.push(['same', y[j]]); i++; j++; }
      else if (l[(i + 1) * (n + 1) + j] >= l[i * (n + 1) + j + 1]) { out.push(['del', x[i]]); i++; }
      else { out.push(['ins', y[j]]); j++; }
    }
    for (; i < m; i++) out.push(['del', x[i]]);
    for (; j < n; j++) out.push(['ins', y[j]]);
    return out;
  }

  function table(d){
    var n = d.id.length, size = 50;
    var state = {show: 'all', label: 'all', q: '', page: 0};
    var view = null;
    var pass = d.statuses.indexOf('pass');
    function present(i){ return d.runs.filter(function(r){ return r.status[i] !== null; }); }
    function differs(i, key){
      var p = present(i);
      for (var j = 1; j < p.length; j++) if (p[j][key][i] !== p[j - 1][key][i]) return true;
      return false;
    }
    function filtered(){
      var q = state.q.toLowerCase(), outputHit = null;
      if (q) outputHit = d.outputs.map(function(o){ return o.toLowerCase().indexOf(q) !== -1; });
      var rows = [];
      for (var i = 0; i < n; i++) {
        if (state.show === 'status' && !differs(i, 'status')) continue;
        if (state.show === 'output' && !differs(i, 'output')) continue;
        if (state.show === 'failures' && !present(i).some(function(r){ return r.status[i] !== pass; })) continue;
        if (state.label !== 'all' && !d.runs.some(function(r){ return r.status[i] !== null && d.lists[r.labels[i]].indexOf(state.label) !== -1; })) continue;
        if (q && d.id[i].toLowerCase().indexOf(q) === -1 && !d.runs.some(function(r){ return r.status[i] !== null && outputHit[r.output[i]]; })) continue;
        rows.push(i);
      }
      return rows;
    }
    function el(tag, text, cls){
      var e = document.createElement(tag);
      if (text !== undefined) e.textContent = text;
      if (cls) e.className = cls;
      return e;
    }
    function cellOf(i, k){
      var r = d.runs[k], td = el('td');
      if (r.status[i] === null) { td.appendChild(el('span', 'not in this run', 'skipped')); return td; }
      var status = d.statuses[r.status[i]];
      var head = el('div');
      head.appendChild(el('span', status, status));
      var failed = d.lists[r.failed[i]];
      if (failed.length) head.appendChild(el('span', ' ✗ ' + failed.join(', ')));
      td.appendChild(head);
      var pre = el('pre'), text = d.outputs[r.output[i]];
      var first = d.runs[0];
      if (k > 0 && first.status[i] !== null) {
        diff(d.outputs[first.output[i]], text).forEach(function(part){
          pre.appendChild(part[0] === 'same' ? document.createTextNode(part[1]) : el(part[0], part[1]));
        });
      } else {
        pre.textContent = text;
      }
      td.appendChild(pre);
      var ms = r.latency_ms[i];
      td.appendChild(el('div', '$' + r.cost_usd[i].toFixed(6) + ' · ' + (ms === null ? '–' : Math.round(ms) + ' ms'), 'meta'));
      return td;
    }
    function render(){
      if (view === null) view = filtered();
      var pages = Math.max(1, Math.ceil(view.length / size));
      if (state.page >= pages) state.page = pages - 1;
      var body = document.getElementById('matrix-body');
      while (body.firstChild) body.removeChild(body.firstChild);
      view.slice(state.page * size, (state.page + 1) * size).forEach(function(i){
        var tr = el('tr');
        tr.appendChild(el('td', d.id[i]));
        for (var k = 0; k < d.runs.length; k++) tr.appendChild(cellOf(i, k));
        body.appendChild(tr);
      });
      count.textContent = view.length + ' of ' + n + ' cases';
      // When the first page was drawn, in ms since the page was asked for.
      if (!count.hasAttribute('data-drawn-ms')) count.setAttribute('data-drawn-ms', Math.round(performance.now()));
      document.getElementById('page').textContent = 'page ' + (state.page + 1) + ' of ' + pages;
    }
    function refilter(){ view = null; state.page = 0; render(); }
    document.getElementById('f-show').addEventListener('change', function(e){ state.show = e.target.value; refilter(); });
    document.getElementById('f-label').addEventListener('change', function(e){ state.label = e.target.value; refilter(); });
    document.getElementById('f-q').addEventListener('input', function(e){ state.q = e.target.value; refilter(); });
    document.getElementById('prev').addEventListener('click', function(){ if (state.page > 0) { state.page--; render(); } });
    document.getElementById('next').addEventListener('click', function(){ state.page++; render(); });
    render();
  }
})();
