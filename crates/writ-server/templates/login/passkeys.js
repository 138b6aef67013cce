// Passkeys on the hosted pages (inlined with the page's CSP nonce). The element #passkey names
// the endpoint that hands out a ceremony's options (data-options) and the form that carries the
// browser's answer (#passkey-form, posted as an ordinary form so the server answers with a
// page or a redirect). On the login page (data-conditional) the browser may also offer the
// passkeys in the email field's autofill (conditional mediation) while the page is open.
(function () {
  var box = document.getElementById('passkey');
  var form = document.getElementById('passkey-form');
  if (!box || !form) return;
  if (!window.PublicKeyCredential || !navigator.credentials) return;
  box.hidden = false;
  var button = box.querySelector('button');
  var errorBox = document.getElementById('passkey-error');

  function dec(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var b = atob(s);
    var a = new Uint8Array(b.length);
    for (var i = 0; i < b.length; i++) a[i] = b.charCodeAt(i);
    return a.buffer;
  }
  function enc(buf) {
    if (!buf) return undefined;
    var a = new Uint8Array(buf);
    var s = '';
    for (var i = 0; i < a.length; i++) s += String.fromCharCode(a[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function creation(o) {
    o.challenge = dec(o.challenge);
    o.user.id = dec(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = dec(c.id); });
    return o;
  }
  function request(o) {
    o.challenge = dec(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = dec(c.id); });
    return o;
  }
  function toJSON(c) {
    if (typeof c.toJSON === 'function') return c.toJSON();
    var r = c.response;
    var out = {
      id: c.id,
      rawId: enc(c.rawId),
      type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: { clientDataJSON: enc(r.clientDataJSON) },
    };
    if (r.attestationObject) {
      out.response.attestationObject = enc(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
      if (r.getAuthenticatorData) out.response.authenticatorData = enc(r.getAuthenticatorData());
      if (r.getPublicKey) out.response.publicKey = enc(r.getPublicKey());
      if (r.getPublicKeyAlgorithm) out.response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
    } else {
      out.response.authenticatorData = enc(r.authenticatorData);
      out.response.signature = enc(r.signature);
      out.response.userHandle = enc(r.userHandle);
    }
    return out;
  }
  function options() {
    var body = new URLSearchParams();
    ['tx', 'csrf'].forEach(function (k) {
      if (form.elements[k]) body.append(k, form.elements[k].value);
    });
    return fetch(box.getAttribute('data-options'), {
      method: 'POST',
      body: body,
      credentials: 'same-origin',
    }).then(function (r) {
      if (!r.ok) throw new Error('options ' + r.status);
      return r.json();
    });
  }
  var sent = false;
  function send(mode, credential) {
    // Once: the autofill and the button may both finish a ceremony.
    if (sent) return;
    sent = true;
    form.elements.credential.value = JSON.stringify(toJSON(credential));
    if (form.elements.mode) form.elements.mode.value = mode;
    form.submit();
  }
  function fail(e) {
    if (e && e.name === 'AbortError') return;
    if (window.console) console.warn('passkey:', e && e.name, e && e.message);
    if (errorBox) {
      errorBox.textContent = 'The passkey could not be used. Try again, or use another way to log in.';
      errorBox.hidden = false;
    }
  }
  var pending = null;
  function ceremony(conditional) {
    return options().then(function (o) {
      if (o.mode === 'create') {
        return navigator.credentials
          .create({ publicKey: creation(o.publicKey) })
          .then(function (c) { send('create', c); });
      }
      var req = { publicKey: request(o.publicKey || o) };
      if (conditional) {
        pending = new AbortController();
        req.mediation = 'conditional';
        req.signal = pending.signal;
      }
      return navigator.credentials.get(req).then(function (c) {
        if (c) send('get', c);
      });
    });
  }
  button.addEventListener('click', function (ev) {
    ev.preventDefault();
    if (sent) return;
    if (pending) pending.abort();
    pending = null;
    if (errorBox) errorBox.hidden = true;
    ceremony(false).catch(fail);
  });
  if (box.hasAttribute('data-conditional') && PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable()
      .then(function (yes) {
        if (yes) return ceremony(true);
      })
      .catch(function () {});
  }
})();
