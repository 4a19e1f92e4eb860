// The QR's signed payload travels in the URL fragment, never sent to the server: checked here
// against the issuer's published key and the bank's record (the page's JSON data block).
(async () => {
    const fragment = decodeURIComponent(location.hash.slice(1));
    if (!fragment) return;
    const record = JSON.parse(document.getElementById("record").textContent);
    const mark = document.querySelector("#qr-check span");
    const text = document.getElementById("qr-text");
    // The page's language only (as every other line of it): a Chinese page in Chinese, an English one in English.
    const english = document.documentElement.lang === "en";
    const say = (zh, en) => english ? en : zh;
    const fail = (zh, en) => {
      mark.className = "mark-false"; mark.textContent = "✗"; text.textContent = say(zh, en);
      const box = document.getElementById("verdict");
      box.className = "verdict invalid"; box.dataset.verdict = "invalid";
      box.querySelector(".big").textContent = say("✗ 无效", "✗ INVALID");
      box.querySelector(".en").textContent = say("INVALID", "无效");
      document.getElementById("verdict-reason").textContent = say(zh, en);
    };
    const b64 = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4)), c => c.charCodeAt(0));
    const parts = fragment.split(".");
    if (parts.length !== 4 || parts[0] !== "CB1") return fail("二维码内容格式不对", "malformed QR payload");
    let signatureOk = null;
    const key = record.keys.find(k => k.kid === parts[1]);
    if (!key) return fail("二维码由未知密钥签名，可能是伪造的", "QR signed by an unknown key; it may be forged");
    try {
      const pub = await crypto.subtle.importKey("raw", b64(key.public_key), {name: "Ed25519"}, false, ["verify"]);
      const domain = new TextEncoder().encode("creditbank/qr/v1\0");
      const signed = new TextEncoder().encode(parts.slice(0, 3).join("."));
      const message = new Uint8Array(domain.length + signed.length);
      message.set(domain); message.set(signed, domain.length);
      signatureOk = await crypto.subtle.verify({name: "Ed25519"}, pub, b64(parts[3]), message);
    } catch (e) { signatureOk = null; }  // an older browser without Ed25519: the record comparison below still runs
    if (signatureOk === false) return fail("二维码签名不符，内容被篡改", "QR signature does not match: altered");
    if (fragment !== record.payload) return fail("二维码内容与本行存档不一致，可能是伪造的", "QR content differs from the bank's record; it may be forged");
    mark.className = "mark-true"; mark.textContent = "✓";
    text.textContent = signatureOk
      ? say("签名正确，且与存档一致", "The signature verifies and matches the record")
      : say("与存档一致", "Matches the record");
  })();
