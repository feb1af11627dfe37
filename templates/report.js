
(function(){
  var data = JSON.parse(document.getElementById('cases-data').textContent);
  var state = {status: 'all', tag: 'all', label: 'all', q: '', key: 'id', dir: 1, page: 0};
  var size = 100;
  function matches(c){
    if (state.status !== 'all' && c.status !== state.status) return false;
    if (state.tag !== 'all' && c.tags.indexOf(state.tag) === -1) return false;
    if (state.label !== 'all' && c.labels.indexOf(state.label) === -1) return false;
    if (state.q) {
      var text = (c.id + ' ' + c.failed.join(' ') + ' ' + c.output).toLowerCase();
      if (text.indexOf(state.q.toLowerCase()) === -1) return false;
    }
    return true;
  }
  function cell(tr, text, cls){
    var td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }
  function render(){
    var rows = data.filter(matches);
    rows.sort(function(a, b){
      var x = a[state.key], y = b[state.key];
      if (x === y) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      return (x > y ? 1 : -1) * state.dir;
    });
    var pages = Math.max(1, Math.ceil(rows.length / size));
    if (state.page >= pages) state.page = pages - 1;
    var body = document.getElementById('cases-body');
    while (body.firstChild) body.removeChild(body.firstChild);
    rows.slice(state.page * size, (state.page + 1) * size).forEach(function(c){
      var tr = document.createElement('tr');
      cell(tr, c.id);
      cell(tr, c.status, c.status);
      if (c.base_status !== undefined) cell(tr, c.base_status || '-', c.base_status);
      cell(tr, c.failed.join(', '));
      cell(tr, c.tags.join(', '));
      cell(tr, c.latency_ms === null ? '-' : Math.round(c.latency_ms) + ' ms', 'num');
      cell(tr, '$' + c.cost_usd.toFixed(6), 'num');
      var td = document.createElement('td');
      var pre = document.createElement('pre');
      pre.textContent = c.output;
      td.appendChild(pre);
      tr.appendChild(td);
      body.appendChild(tr);
    });
    document.getElementById('cases-count').textContent = rows.length + ' of ' + data.length + ' cases';
    document.getElementById('page').textContent = 'page ' + (state.page + 1) + ' of ' + pages;
  }
  document.getElementById('f-status').addEventListener('change', function(e){ state.status = e.target.value; state.page = 0; render(); });
  document.getElementById('f-tag').addEventListener('change', function(e){ state.tag = e.target.value; state.page = 0; render(); });
  document.getElementById('f-label').addEventListener('change', function(e){ state.label = e.target.value; state.page = 0; render(); });
  document.getElementById('f-q').addEventListener('input', function(e){ state.q = e.target.value; state.page = 0; render(); });
  document.getElementById('prev').addEventListener('click', function(){ if (state.page > 0) { state.page--; render(); } });
  document.getElementById('next').addEventListener('click', function(){ state.page++; render(); });
  Array.prototype.forEach.call(document.querySelectorAll('th.sort'), function(th){
    th.addEventListener('click', function(){
      var key = th.getAttribute('data-key');
      state.dir = state.key === key ? -state.dir : 1;
      state.key = key;
      render();
    });
  });
  render();
})();
