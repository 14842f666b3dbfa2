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
      var txt='frame '+(i+1)+' / '+n;  // 1-based, as a reader counts
      if(per.ssim&&per.ssim[i]!==undefined){txt+=' \u00b7 ssim '+Number(per.ssim[i]).toFixed(5);}
      if(per.psnr&&per.psnr[i]!==undefined){txt+=' \u00b7 psnr '+(isFinite(per.psnr[i])?Number(per.psnr[i]).toFixed(2)+' dB':per.psnr[i]);}
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
