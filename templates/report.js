
(function(){
  // The cases, column by column (see src/render/cases.rs).
  var count = document.getElementById('cases-count');
  evalgateUnpack('cases-data', table, function(message){ count.textContent = message; });

  // Repeated values are indices into `statuses`, `lists` and `outputs`. Only the rows of the
  // shown page are drawn.
  function table(d){
    var n = d.id.length;
    var state = {status: 'all', tag: 'all', label: 'all', q: '', key: 'id', dir: 1, page: 0};
    var size = 100;
    var view = null;
    function status(i){ return d.statuses[d.status[i]]; }
    function baseStatus(i){ var s = d.base[i]; return s === null ? null : d.statuses[s]; }
    var keys = {
      id: function(i){ return d.id[i]; },
      status: status,
      base_status: baseStatus,
      latency_ms: function(i){ return d.latency_ms[i]; },
      cost_usd: function(i){ return d.cost_usd[i]; }
    };
    var idsSorted = true;
    for (var i = 1; i < n && idsSorted; i++) idsSorted = d.id[i - 1] <= d.id[i];
    // For a search, which lists and outputs hold the text (each distinct value tested once).
    function hits(values, text){
      var q = state.q.toLowerCase();
      return values.map(function(v){ return text(v).toLowerCase().indexOf(q) !== -1; });
    }
    function filtered(){
      var listHit = null, outputHit = null, q = state.q.toLowerCase();
      if (q) {
        listHit = hits(d.lists, function(l){ return l.join(' '); });
        outputHit = hits(d.outputs, function(o){ return o; });
      }
      var rows = [];
      for (var i = 0; i < n; i++) {
        if (state.status !== 'all' && status(i) !== state.status) continue;
        if (state.tag !== 'all' && d.lists[d.tags[i]].indexOf(state.tag) === -1) continue;
        if (state.label !== 'all' && d.lists[d.labels[i]].indexOf(state.label) === -1) continue;
        if (q && !(d.id[i].toLowerCase().indexOf(q) !== -1 || listHit[d.failed[i]] || outputHit[d.output[i]])) continue;
        rows.push(i);
      }
      if (state.key === 'id' && state.dir === 1 && idsSorted) return rows;
      var key = keys[state.key];
      rows.sort(function(a, b){
        var x = key(a), y = key(b);
        if (x === y) return a - b;
        if (x === null) return 1;
        if (y === null) return -1;
        return (x > y ? 1 : -1) * state.dir;
      });
      return rows;
    }
    function cell(tr, text, cls){
      var td = document.createElement('td');
      td.textContent = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    function render(){
      if (view === null) view = filtered();
      var pages = Math.max(1, Math.ceil(view.length / size));
      if (state.page >= pages) state.page = pages - 1;
      var body = document.getElementById('cases-body');
      while (body.firstChild) body.removeChild(body.firstChild);
      view.slice(state.page * size, (state.page + 1) * size).forEach(function(i){
        var tr = document.createElement('tr');
        cell(tr, d.id[i]);
        cell(tr, status(i), status(i));
        if (d.base) { var b = baseStatus(i); cell(tr, b || '-', b); }
        cell(tr, d.lists[d.failed[i]].join(', '));
        cell(tr, d.lists[d.tags[i]].join(', '));
        var ms = d.latency_ms[i];
        cell(tr, ms === null ? '-' : Math.round(ms) + ' ms', 'num');
        cell(tr, '$' + d.cost_usd[i].toFixed(6), 'num');
        var td = document.createElement('td');
        var pre = document.createElement('pre');
        pre.textContent = d.outputs[d.output[i]];
        td.appendChild(pre);
        tr.appendChild(td);
        body.appendChild(tr);
      });
      var count = document.getElementById('cases-count');
      count.textContent = view.length + ' of ' + n + ' cases';
      // When the first page was drawn, in ms since the page was asked for (bench/report.sh).
      if (!count.hasAttribute('data-drawn-ms')) count.setAttribute('data-drawn-ms', Math.round(performance.now()));
      document.getElementById('page').textContent = 'page ' + (state.page + 1) + ' of ' + pages;
    }
    function refilter(){ view = null; state.page = 0; render(); }
    document.getElementById('f-status').addEventListener('change', function(e){ state.status = e.target.value; refilter(); });
    document.getElementById('f-tag').addEventListener('change', function(e){ state.tag = e.target.value; refilter(); });
    document.getElementById('f-label').addEventListener('change', function(e){ state.label = e.target.value; refilter(); });
    document.getElementById('f-q').addEventListener('input', function(e){ state.q = e.target.value; refilter(); });
    document.getElementById('prev').addEventListener('click', function(){ if (state.page > 0) { state.page--; render(); } });
    document.getElementById('next').addEventListener('click', function(){ state.page++; render(); });
    Array.prototype.forEach.call(document.querySelectorAll('th.sort'), function(th){
      th.addEventListener('click', function(){
        var key = th.getAttribute('data-key');
        state.dir = state.key === key ? -state.dir : 1;
        state.key = key;
        refilter();
      });
    });
    render();
  }
})();
