
(function(){
  var name = document.getElementById('reviewer');
  if (name) {
    name.value = localStorage.getItem('evalgate-reviewer') || '';
    name.addEventListener('input', function(){ localStorage.setItem('evalgate-reviewer', name.value); });
  }
  var answer = document.getElementById('answer');
  document.addEventListener('keydown', function(e){
    var t = e.target.tagName;
    if (t === 'INPUT' || t === 'TEXTAREA') {
      // Enter in the right-answer field answers fail with it.
      if (e.key === 'Enter' && e.target === answer) {
        e.preventDefault();
        document.querySelector('[data-key="f"]').click();
      }
      return;
    }
    var k = e.key.toLowerCase();
    // A fail of a case that needs a label needs the right answer first.
    if (k === 'f' && answer && !answer.value) { e.preventDefault(); answer.focus(); return; }
    var b = document.querySelector('[data-key="' + k + '"]');
    if (b) { e.preventDefault(); b.click(); }
  });
})();
