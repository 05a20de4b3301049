// Small improvements over the script-free pages: search as you type, matrix source switching.
(function () {
  const live = document.querySelector('input[data-live]');
  if (live) {
    let timer = null;
    live.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(async function () {
        const q = live.value.trim();
        const list = document.getElementById('hits');
        if (!list || q.length < 2) return;
        const res = await fetch('/api/search?q=' + encodeURIComponent(q));
        if (!res.ok) return;
        const data = await res.json();
        list.replaceChildren();
        for (const h of data.results) {
          const li = document.createElement('li');
          const a = document.createElement('a');
          a.href = '/rules/' + encodeURIComponent(h.source) + '/' + encodeURIComponent(h.id);
          a.textContent = h.title;
          const tag = document.createElement('span');
          tag.className = 'tag';
          tag.textContent = h.source;
          li.append(a, ' ', tag);
          list.append(li);
        }
      }, 150);
    });
  }
  for (const sel of document.querySelectorAll('select[data-submit]')) {
    sel.addEventListener('change', function () { sel.form.submit(); });
  }
})();
