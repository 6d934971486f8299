// The playground's diagram viewer: @panzoom/panzoom (wheel zoom about the cursor, drag to pan),
// bundled by esbuild into compiler/tools/serve/static/viewer.js; app.js drives it as window.NetcPanzoom.
import Panzoom from "@panzoom/panzoom";

window.NetcPanzoom = Panzoom;
