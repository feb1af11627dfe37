
// The data a page's script reads: JSON compressed with gzip, in base64, in the element `id`,
// unpacked by the browser's own DecompressionStream; `done(data)`, or `fail(message)`.
function evalgateUnpack(id, done, fail){
  if (typeof DecompressionStream === 'undefined') {
    fail('this browser cannot unpack the table (it needs DecompressionStream: Chrome 80, Firefox 113, Safari 16.4 or later)');
    return;
  }
  var bin = atob(document.getElementById(id).textContent.trim());
  var bytes = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  new Response(stream).text().then(JSON.parse).then(done, function(e){
    fail('the table could not be read: ' + e);
  });
}
