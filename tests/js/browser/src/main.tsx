// The test page: the seeds' FileUpload and FileList (unchanged but for where `api` comes
// from) under a ConvexProvider, signed in with the token in the query string.
//
//   /?deployment=http://127.0.0.1:PORT&token=JWT
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { ConvexProvider, ConvexReactClient } from "convex/react";
import { FileUpload } from "./FileUpload";
import { FileList } from "./FileList";
import { DeleteFiles } from "./DeleteFiles";

const params = new URLSearchParams(window.location.search);
const deployment = params.get("deployment");
const token = params.get("token");
if (!deployment || !token) {
  throw new Error("open this page with ?deployment=<server URL>&token=<JWT>");
}

const status = document.createElement("p");
status.id = "auth-status";
status.textContent = "auth: pending";
document.body.prepend(status);

const convex = new ConvexReactClient(deployment);
convex.setAuth(
  async () => token,
  (isAuthenticated) => {
    status.textContent = `auth: ${isAuthenticated ? "signed in" : "refused"}`;
  },
);

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <ConvexProvider client={convex}>
      <section id="upload">
        <FileUpload />
      </section>
      <section id="files">
        <FileList />
      </section>
      <section id="manage">
        <DeleteFiles />
      </section>
    </ConvexProvider>
  </StrictMode>,
);
