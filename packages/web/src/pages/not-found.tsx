/** Any path that is no page: say so, and offer the way back. */
import { PageTitle } from '../components/page-title.js';
import { route } from '../router.js';

export function NotFoundPage() {
  const isJob = route.value.path.startsWith('/jobs/');
  return (
    <>
      <PageTitle title={isJob ? 'No such job' : 'Page not found'} />
      <p>
        {isJob ? (
          <>
            <code>{route.value.path.slice('/jobs/'.length)}</code> is not a job id. Job ids look like{' '}
            <code>0194c2f0-7b1e-7c4a-9d3e-2f6a8b1c0d4e</code>.
          </>
        ) : (
          <>
            There is no page at <code>{route.value.path}</code>.
          </>
        )}
      </p>
      <p>
        <a href="/">Go to your jobs</a>
      </p>
    </>
  );
}
