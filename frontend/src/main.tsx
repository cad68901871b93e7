// Entry point. src/boot.ts starts the login check, the live stream and the first page's code
// and data; the rest of the app (Ant Design, React DOM) is a separate chunk loaded beside them,
// so that those requests are not held back until that code has been fetched and evaluated.
import { firstRender } from "./boot";
import "antd/dist/antd.css";
import "./global.css";

const app = import("./render");
void firstRender.then(() => app).then(({ render }) => render());
