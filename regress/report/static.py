"""The page's stylesheet and script, inlined into every ``index.html``.

Inline so that the report is one file plus its media: it opens from a downloaded CI artifact
with no server and no network. The script only wires controls (overlay slider, frame
scrubber, the failures-only filter); everything it shows is already in the HTML.
"""

CSS = """
:root{--ok:#176f2c;--bad:#b00020;--warn:#8a5a00;--muted:#666;--line:#d8d8d8;--bg-bad:#fde7ea;--bg-ok:#e8f5ec}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header,main,#overview{padding:0 24px}
header{padding-top:16px;border-bottom:1px solid var(--line);background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:0 0 6px}h3{font-size:14px;margin:12px 0 4px}
.meta{color:var(--muted);margin:0 0 10px}code{font-size:12px;background:#f0f0f0;padding:0 3px;border-radius:3px}
.badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;font-weight:600;color:#fff;background:#888}
.badge.passed{background:var(--ok)}.badge.failed,.badge.error{background:var(--bad)}
.badge.missing,.badge.written{background:#b07d00}.badge.xfailed,.badge.skipped{background:#7a7a7a}
.counts{margin:0 0 12px}.counts .badge{margin-right:6px}
table{border-collapse:collapse;margin:6px 0 10px;background:#fff}
td,th{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.bad td{background:var(--bg-bad)}td.worse{color:var(--bad);font-weight:600}td.better{color:var(--ok)}
#summary td.cell a{color:inherit;text-decoration:none;display:block}
#summary td.cell.failed,#summary td.cell.error{background:var(--bg-bad)}
#summary td.cell.passed{background:var(--bg-ok)}
#summary .worst{display:block;font-size:12px;color:#333}
#summary td.none{color:var(--muted);font-style:italic}
.gap{color:var(--bad);font-weight:600}
.toolbar{margin:8px 0}.toolbar label{margin-right:14px;user-select:none}
body.failures-only section.case.ok{display:none}
body.failures-only #summary tr.ok{display:none}
section.case{background:#fff;border:1px solid var(--line);border-left:6px solid #aaa;border-radius:4px;
 margin:16px 0;padding:12px 16px}
section.case.bad{border-left-color:var(--bad)}section.case.passed{border-left-color:var(--ok)}
section.case.missing,section.case.written{border-left-color:#b07d00}
ul.reasons{margin:4px 0 8px;padding-left:18px}ul.reasons li{color:var(--bad)}ul.reasons li.warning{color:var(--warn)}
.media{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start;margin:8px 0}
figure{margin:0}figcaption{font-size:12px;color:var(--muted);text-align:center}
figure img,.stack img{display:block;border:1px solid #999;background:#000}
img.px{image-rendering:pixelated}
.stack{position:relative;cursor:ew-resize}
.stack img{position:absolute;left:0;top:0}
.stack img.over{clip-path:inset(0 0 0 50%)}
.stack .divider{position:absolute;top:0;bottom:0;left:50%;width:2px;background:#ffd400;pointer-events:none}
input.slider{width:100%}
.scrub{display:flex;gap:10px;align-items:center;margin:4px 0;flex-wrap:wrap}
.scrub input[type=range]{width:260px}.scrub .label{font-variant-numeric:tabular-nums}
button{font:inherit;padding:1px 10px;cursor:pointer}
figure.spark{display:inline-block}
svg.spark,svg.wave{background:#fff;border:1px solid var(--line);display:block}
.tables{display:flex;flex-wrap:wrap;gap:18px}
details{margin:6px 0}summary{cursor:pointer}
"""

JS = """
(function(){
  function pad3(i){return ('00'+i).slice(-3);}
  document.querySelectorAll('.compare').forEach(function(fig){
    var over=fig.querySelector('img.over'), line=fig.querySelector('.divider'), input=fig.querySelector('input.slider');
    function set(v){over.style.clipPath='inset(0 0 0 '+v+'%)'; line.style.left=v+'%';}
    input.addEventListener('input',function(){set(input.value);});
    set(input.value);
  });
  document.querySelectorAll('.video').forEach(function(box){
    var input=box.querySelector('input.frame'), label=box.querySelector('.label'), play=box.querySelector('button.play');
    var per=JSON.parse(box.getAttribute('data-per-frame')||'{}'), fps=parseFloat(box.getAttribute('data-fps'))||8;
    var n=parseInt(input.max,10)+1, timer=null;
    function show(i){
      box.querySelectorAll('img[data-dir]').forEach(function(img){
        var count=parseInt(img.getAttribute('data-count'),10);
        if(i<count){img.src=img.getAttribute('data-dir')+'/'+pad3(i)+'.png';}
      });
      var txt='frame '+i+' / '+(n-1);
      if(per.ssim&&per.ssim[i]!==undefined){txt+=' \\u00b7 ssim '+Number(per.ssim[i]).toFixed(5);}
      if(per.psnr&&per.psnr[i]!==undefined){txt+=' \\u00b7 psnr '+(isFinite(per.psnr[i])?Number(per.psnr[i]).toFixed(2)+' dB':per.psnr[i]);}
      label.textContent=txt;
      box.querySelectorAll('svg.spark .cursor').forEach(function(c){c.setAttribute('x1',c.getAttribute('data-x0')*1+i*c.getAttribute('data-step'));c.setAttribute('x2',c.getAttribute('x1'));});
    }
    input.addEventListener('input',function(){show(parseInt(input.value,10));});
    box.querySelectorAll('button.jump').forEach(function(b){b.addEventListener('click',function(){input.value=b.getAttribute('data-frame');show(parseInt(input.value,10));});});
    if(play){play.addEventListener('click',function(){
      if(timer){clearInterval(timer);timer=null;play.textContent='play';return;}
      play.textContent='pause';
      timer=setInterval(function(){input.value=(parseInt(input.value,10)+1)%n;show(parseInt(input.value,10));},Math.max(40,1000/fps));
    });}
    show(parseInt(input.value,10));
  });
  var only=document.getElementById('failures-only');
  if(only){only.addEventListener('change',function(){document.body.classList.toggle('failures-only',only.checked);});}
})();
"""
