// Placeholder until the page is written.
export default function RunsPage() {
  return <div>RunsPage</div>;
}
