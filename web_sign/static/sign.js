// Inkpost signing page: the optional drawing pad, and the Telegram Mini App hand-over.
// The page works without this file; only drawing a signature and the Mini App need it.
(function () {
  "use strict";

  var TELEGRAM_KEY = "inkpost.tgWebAppData";

  function storedLaunchData() {
    try {
      return window.sessionStorage.getItem(TELEGRAM_KEY) || "";
    } catch (e) {
      return "";
    }
  }

  function keepLaunchData(data) {
    try {
      window.sessionStorage.setItem(TELEGRAM_KEY, data);
    } catch (e) {
      // Storage may be off (private mode, a partitioned frame): the forms still work.
    }
  }

  // Telegram puts its signed launch data in the fragment: #tgWebAppData=...&tgWebAppVersion=...
  function launchDataFromFragment() {
    var fragment = window.location.hash.replace(/^#/, "");
    if (!fragment) {
      return "";
    }
    try {
      return new URLSearchParams(fragment).get("tgWebAppData") || "";
    } catch (e) {
      return "";
    }
  }

  // What telegram-web-app.js does for these two events, without loading it from elsewhere.
  function tellTelegram(eventType) {
    try {
      if (window.TelegramWebviewProxy && window.TelegramWebviewProxy.postEvent) {
        window.TelegramWebviewProxy.postEvent(eventType, "");
      } else if (window.parent && window.parent !== window) {
        window.parent.postMessage(JSON.stringify({ eventType: eventType, eventData: "" }), "*");
      }
    } catch (e) {
      // Not inside Telegram after all.
    }
  }

  function launch(form) {
    var data = launchDataFromFragment() || storedLaunchData();
    if (!data) {
      form.querySelector("[data-tg-missing]").hidden = false;
      return;
    }
    keepLaunchData(data);
    tellTelegram("web_app_ready");
    tellTelegram("web_app_expand");
    form.elements.init_data.value = data;
    form.submit();
  }

  function carryLaunchData() {
    var data = storedLaunchData();
    if (!data) {
      return;
    }
    tellTelegram("web_app_ready");
    var fields = document.querySelectorAll("[data-tg-init-data]");
    for (var i = 0; i < fields.length; i++) {
      fields[i].value = data;
    }
  }

  function signaturePad(pad) {
    var form = pad.closest("form");
    var field = form.querySelector("[data-signature-field]");
    var canvas = pad.querySelector("canvas");
    var context = canvas.getContext("2d");
    var drawing = false;
    var drawn = false;
    pad.hidden = false;
    context.lineWidth = 2.5;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.strokeStyle = "#1a2a6c";

    function point(event) {
      var box = canvas.getBoundingClientRect();
      return {
        x: ((event.clientX - box.left) * canvas.width) / box.width,
        y: ((event.clientY - box.top) * canvas.height) / box.height,
      };
    }

    canvas.addEventListener("pointerdown", function (event) {
      event.preventDefault();
      drawing = true;
      if (canvas.setPointerCapture) {
        canvas.setPointerCapture(event.pointerId);
      }
      var at = point(event);
      context.beginPath();
      context.moveTo(at.x, at.y);
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) {
        return;
      }
      event.preventDefault();
      var at = point(event);
      context.lineTo(at.x, at.y);
      context.stroke();
      drawn = true;
    });
    function finish() {
      if (!drawing) {
        return;
      }
      drawing = false;
      if (drawn) {
        field.value = canvas.toDataURL("image/png");
      }
    }
    canvas.addEventListener("pointerup", finish);
    canvas.addEventListener("pointercancel", finish);
    pad.querySelector("[data-clear-signature]").addEventListener("click", function () {
      context.clearRect(0, 0, canvas.width, canvas.height);
      drawn = false;
      field.value = "";
    });
  }

  function start() {
    var launcher = document.querySelector("[data-tg-launch]");
    if (launcher) {
      launch(launcher);
      return;
    }
    carryLaunchData();
    var pads = document.querySelectorAll("[data-signature-pad]");
    for (var i = 0; i < pads.length; i++) {
      signaturePad(pads[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
