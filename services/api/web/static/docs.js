// The API's documentation, drawn by Swagger UI from the API's own files (no CDN).
window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({ url: root.dataset.url, domNode: root, deepLinking: false });
});
